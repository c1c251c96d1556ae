variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "cutover"
}

variable "container_image" {
  description = "The cutover image (see the Dockerfile)."
  type        = string
}

variable "slack_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the Slack bot token."
  type        = string
}

variable "slack_channel" {
  description = "Channel of deployments no route matches."
  type        = string
  default     = "deployments"
}

variable "subnet_ids" {
  description = "Private subnets for the Cutover task (outbound HTTPS to AWS and Slack)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for the Cutover task."
  type        = list(string)
}

variable "source_event_bus_name" {
  description = "The bus the AWS events arrive on: default, or an organisation's forwarding bus."
  type        = string
  default     = "default"
}

variable "organization_id" {
  description = "Cross-account: the AWS Organizations id whose accounts may put events on the source bus. Empty for one account."
  type        = string
  default     = ""
}

variable "cloudfront_distribution_arns" {
  description = "Distributions Cutover may invalidate. Empty: no invalidation rights."
  type        = list(string)
  default     = []
}

variable "create_dynamodb_table" {
  description = "Create the DynamoDB table for replicated state."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the service's logs."
  type        = number
  default     = 30
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify. Empty for none."
  type        = string
  default     = ""
}

variable "pipeline_name_pattern" {
  description = "Names of the pipelines Cutover may read (actions, source revisions, approvers), as an IAM resource pattern, e.g. checkout-*."
  type        = string
  default     = "*"
}

variable "stack_name_pattern" {
  description = "Names of the CloudFormation stacks pipelines deploy with, whose ECS services Cutover may list, as an IAM resource pattern."
  type        = string
  default     = "*"
}

variable "sink_secret_arns" {
  description = "ARNs of the Secrets Manager secrets the [[sinks]] entries name with token_secret_arn or private_key_secret_arn. Empty: no sink reads a secret."
  type        = list(string)
  default     = []
}

variable "enable_actions" {
  description = "Act from Slack ([slack.actions], docs/actions.md): grants the write calls, scoped to the patterns below, and turns the request URLs on. Off: Cutover only reads."
  type        = bool
  default     = false
}

variable "slack_signing_secret_arn" {
  description = "With enable_actions: ARN of the Secrets Manager secret holding the Slack app's signing secret (plain text), given to the task as SLACK_SIGNING_SECRET."
  type        = string
  default     = ""
}

variable "slack_app_token_secret_arn" {
  description = "With enable_actions: ARN of the Secrets Manager secret holding the Slack app's app-level token (xapp-..., connections:write; plain text), given to the task as SLACK_APP_TOKEN. Given, Socket Mode is the transport (an outbound WebSocket, nothing reaches in)."
  type        = string
  default     = ""
}

variable "action_pipeline_name_pattern" {
  description = "With enable_actions: the pipelines Cutover may approve in and start, as an IAM resource pattern (checkout-*). Empty: none."
  type        = string
  default     = ""
}

variable "action_cluster_name_pattern" {
  description = "With enable_actions: the ECS clusters whose services Cutover may continue, stop and update to their previous task definition (prod-*). Empty: none."
  type        = string
  default     = ""
}

variable "action_deployment_group_pattern" {
  description = "With enable_actions: the CodeDeploy deployment groups Cutover may continue and stop, as application/group (AppECS-prod-*/*). Empty: none."
  type        = string
  default     = ""
}
