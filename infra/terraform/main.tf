# Cutover, the same stack as infra/cloudformation/cutover.yaml, for teams that live in
# Terraform. The rule patterns are the files in event-schemas/patterns/, read with file().

locals {
  patterns_dir = "${path.module}/../../event-schemas/patterns"
  # Slack's signed requests: the signing secret goes to the task only when actions are on.
  signs_requests = var.enable_actions && var.slack_signing_secret_arn != ""
  # Socket Mode: the app-level token, when given, makes it the transport.
  uses_socket_mode = var.enable_actions && var.slack_app_token_secret_arn != ""
  rules = {
    ecs-task-state-change       = file("${local.patterns_dir}/ecs-task-state-change.json")
    ecs-deployment-state-change = file("${local.patterns_dir}/ecs-deployment-state-change.json")
    ecs-hook-state-change       = file("${local.patterns_dir}/ecs-hook-state-change.json")
    ecs-service-action          = file("${local.patterns_dir}/ecs-service-action.json")
    codedeploy                  = file("${local.patterns_dir}/codedeploy.json")
    codepipeline                = file("${local.patterns_dir}/codepipeline.json")
    deploy-annotation           = file("${local.patterns_dir}/deploy-annotation.json")
  }
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dead-letter"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  name                       = "${var.name}-events"
  visibility_timeout_seconds = 60
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = 5
  })
}

# Cutover's own events again, for one reader: Cutover, when a PutEvents had no known outcome
# (a crash mid-call), looks here before sending again, so no event is emitted twice.
resource "aws_sqs_queue" "receipts" {
  name                      = "${var.name}-receipts"
  message_retention_seconds = 3600
  sqs_managed_sse_enabled   = true
}

resource "aws_cloudwatch_event_rule" "receipts" {
  name           = "${var.name}-receipts"
  description    = "Cutover's own lifecycle events, back to its receipts queue."
  event_bus_name = aws_cloudwatch_event_bus.cutover.name
  event_pattern  = jsonencode({ source = ["cutover"] })
}

resource "aws_cloudwatch_event_target" "receipts" {
  rule           = aws_cloudwatch_event_rule.receipts.name
  event_bus_name = aws_cloudwatch_event_bus.cutover.name
  target_id      = "receipts"
  arn            = aws_sqs_queue.receipts.arn
}

resource "aws_sqs_queue_policy" "receipts" {
  queue_url = aws_sqs_queue.receipts.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReceiptsRule"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.receipts.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.receipts.arn } }
    }]
  })
}

resource "aws_cloudwatch_event_rule" "aws_events" {
  for_each       = local.rules
  name           = "${var.name}-${each.key}"
  description    = "Cutover: event-schemas/patterns/${each.key}.json"
  event_bus_name = var.source_event_bus_name
  event_pattern  = each.value
}

resource "aws_cloudwatch_event_target" "queue" {
  for_each       = local.rules
  rule           = aws_cloudwatch_event_rule.aws_events[each.key].name
  event_bus_name = var.source_event_bus_name
  target_id      = "cutover-queue"
  arn            = aws_sqs_queue.events.arn
}

resource "aws_sns_topic" "codedeploy_triggers" {
  #checkov:skip=CKV_AWS_26:Trigger messages carry deployment status only, no secrets; encrypting needs a customer-managed key each deployment group's service role may use.
  name = "${var.name}-codedeploy-triggers"
}

resource "aws_sns_topic_subscription" "codedeploy_triggers" {
  topic_arn            = aws_sns_topic.codedeploy_triggers.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.events.arn
  raw_message_delivery = false
}

resource "aws_sns_topic" "approval_notifications" {
  #checkov:skip=CKV_AWS_26:Approval notifications carry the pipeline, stage, action, a review link and a token only a principal with PutApprovalResult can use; encrypting needs a customer-managed key CodePipeline's service role may use.
  name = "${var.name}-approval-notifications"
}

resource "aws_sns_topic_subscription" "approval_notifications" {
  topic_arn            = aws_sns_topic.approval_notifications.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.events.arn
  raw_message_delivery = false
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeRules"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events.arn
        Condition = { ArnEquals = { "aws:SourceArn" = [for r in aws_cloudwatch_event_rule.aws_events : r.arn] } }
      },
      {
        Sid       = "CodeDeployTriggers"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events.arn
        Condition = { ArnEquals = { "aws:SourceArn" = [aws_sns_topic.codedeploy_triggers.arn, aws_sns_topic.approval_notifications.arn] } }
      },
    ]
  })
}

resource "aws_cloudwatch_event_bus_policy" "organization" {
  count          = var.organization_id == "" ? 0 : 1
  event_bus_name = var.source_event_bus_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "cutover-organization-forwarding"
      Effect    = "Allow"
      Principal = "*"
      Action    = "events:PutEvents"
      Resource  = "arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:event-bus/${var.source_event_bus_name}"
      Condition = { StringEquals = { "aws:PrincipalOrgID" = var.organization_id } }
    }]
  })
}

resource "aws_cloudwatch_event_bus" "cutover" {
  name = var.name
}

resource "aws_dynamodb_table" "state" {
  count        = var.create_dynamodb_table ? 1 : 0
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"
  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}

resource "aws_cloudwatch_log_group" "cutover" {
  #checkov:skip=CKV_AWS_158:The logs carry no secrets (the Slack token never reaches them); CloudWatch encrypts at rest by default.
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable.
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
}

data "aws_iam_policy_document" "ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secret" {
  name = "slack-token"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{ Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = var.slack_token_secret_arn }],
      local.signs_requests ? [{ Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = var.slack_signing_secret_arn }] : [],
      local.uses_socket_mode ? [{ Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = var.slack_app_token_secret_arn }] : [],
    )
  })
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

resource "aws_iam_role_policy" "task" {
  name = "cutover"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        { Sid = "ReadTheQueue", Effect = "Allow", Resource = aws_sqs_queue.events.arn,
        Action = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"] },
        { Sid = "DeadLetter", Effect = "Allow", Action = "sqs:SendMessage", Resource = aws_sqs_queue.dead_letter.arn },
        { Sid = "EmitLifecycleEvents", Effect = "Allow", Action = "events:PutEvents", Resource = aws_cloudwatch_event_bus.cutover.arn },
        { Sid = "ReadReceipts", Effect = "Allow", Action = "sqs:ReceiveMessage", Resource = aws_sqs_queue.receipts.arn },
        { Sid    = "ReadCodeDeployTrafficWeights", Effect = "Allow",
          Action = ["codedeploy:ListDeploymentTargets", "codedeploy:GetDeploymentTarget", "codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup"],
        Resource = "arn:${data.aws_partition.current.partition}:codedeploy:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:deploymentgroup:*" },
        { Sid = "CountServiceTasks", Effect = "Allow", Action = ["ecs:ListTasks", "ecs:DescribeTasks"],
          Resource = [
            "arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:container-instance/*",
            "arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:task/*",
        ] },
        { Sid = "ReadServiceDeployments", Effect = "Allow", Action = ["ecs:DescribeServices", "ecs:DescribeServiceDeployments"],
          Resource = [
            "arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:service/*",
            "arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:service-deployment/*",
        ] },
        # Every deployment knows its pipeline: what an execution's deploy actions deploy, its
        # source revisions and trigger, who approved it, what else is queued.
        { Sid    = "ReadPipelines", Effect = "Allow",
          Action = ["codepipeline:ListActionExecutions", "codepipeline:GetPipeline", "codepipeline:GetPipelineExecution", "codepipeline:ListPipelineExecutions"],
        Resource = "arn:${data.aws_partition.current.partition}:codepipeline:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.pipeline_name_pattern}" },
        { Sid = "ReadDeployedStacks", Effect = "Allow", Action = "cloudformation:ListStackResources",
        Resource = "arn:${data.aws_partition.current.partition}:cloudformation:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stack/${var.stack_name_pattern}/*" },
        # DescribeTaskDefinition takes no resource-level permission: the OCI labels of the version deployed.
        { Sid = "ReadTaskDefinitionLabels", Effect = "Allow", Action = "ecs:DescribeTaskDefinition", Resource = "*" },
      ],
      length(var.cloudfront_distribution_arns) == 0 ? [] : [
        { Sid = "Invalidate", Effect = "Allow", Resource = var.cloudfront_distribution_arns,
        Action = ["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation", "cloudfront:ListInvalidations"] },
      ],
      # The sinks' credentials kept in Secrets Manager (token_secret_arn).
      length(var.sink_secret_arns) == 0 ? [] : [
        { Sid = "ReadSinkCredentials", Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = var.sink_secret_arns },
      ],
      # Acting from Slack (enable_actions), each call on the objects given only.
      var.enable_actions && var.action_pipeline_name_pattern != "" ? [
        { Sid = "ActOnPipelines", Effect = "Allow", Action = ["codepipeline:PutApprovalResult", "codepipeline:StartPipelineExecution"],
          Resource = [
            "arn:${data.aws_partition.current.partition}:codepipeline:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.action_pipeline_name_pattern}",
            "arn:${data.aws_partition.current.partition}:codepipeline:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.action_pipeline_name_pattern}/*",
        ] },
      ] : [],
      var.enable_actions && var.action_cluster_name_pattern != "" ? [
        { Sid = "ActOnServices", Effect = "Allow", Action = ["ecs:ContinueServiceDeployment", "ecs:StopServiceDeployment", "ecs:UpdateService"],
          Resource = [
            "arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:service/${var.action_cluster_name_pattern}/*",
            "arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:service-deployment/${var.action_cluster_name_pattern}/*",
        ] },
      ] : [],
      var.enable_actions && var.action_deployment_group_pattern != "" ? [
        { Sid = "ActOnDeploymentGroups", Effect = "Allow", Action = ["codedeploy:ContinueDeployment", "codedeploy:StopDeployment"],
        Resource = "arn:${data.aws_partition.current.partition}:codedeploy:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:deploymentgroup:${var.action_deployment_group_pattern}" },
      ] : [],
      var.create_dynamodb_table ? [
        { Sid = "ReplicatedState", Effect = "Allow", Resource = aws_dynamodb_table.state[0].arn,
          Action = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:Query", "dynamodb:ConditionCheckItem"] },
      ] : [],
    )
  })
}

resource "aws_ecs_cluster" "cutover" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "cutover" {
  family                   = "${var.name}-cutover"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "state"
  }
  container_definitions = jsonencode([{
    name                   = "cutover"
    image                  = var.container_image
    essential              = true
    readonlyRootFilesystem = true
    command                = ["serve", "--config", "/etc/cutover/cutover.toml"]
    stopTimeout            = 30
    portMappings           = [{ containerPort = 8080, protocol = "tcp" }]
    mountPoints            = [{ sourceVolume = "state", containerPath = "/var/lib/cutover" }]
    environment = concat([
      { name = "CUTOVER_SQS__QUEUE_URL", value = aws_sqs_queue.events.url },
      { name = "CUTOVER_SQS__DEAD_LETTER_QUEUE_URL", value = aws_sqs_queue.dead_letter.url },
      { name = "CUTOVER_EVENTBRIDGE__BUS_NAME", value = aws_cloudwatch_event_bus.cutover.arn },
      { name = "CUTOVER_EVENTBRIDGE__RECEIPTS_QUEUE_URL", value = aws_sqs_queue.receipts.url },
      { name = "CUTOVER_SLACK__CHANNEL", value = var.slack_channel },
      { name = "CUTOVER_AWS__REGION", value = data.aws_region.current.name },
      { name = "RUST_LOG", value = "info" },
      ], var.create_dynamodb_table ? [
      { name = "CUTOVER_STORE__BACKEND", value = "dynamodb" },
      { name = "CUTOVER_STORE__TABLE", value = aws_dynamodb_table.state[0].name },
      ] : [], var.enable_actions ? [
      { name = "CUTOVER_SLACK__ACTIONS__ENABLED", value = "true" },
      { name = "CUTOVER_SLACK__ACTIONS__TRANSPORT", value = local.uses_socket_mode ? "socket" : "http" },
    ] : [])
    secrets = concat(
      [{ name = "SLACK_BOT_TOKEN", valueFrom = var.slack_token_secret_arn }],
      local.signs_requests ? [{ name = "SLACK_SIGNING_SECRET", valueFrom = var.slack_signing_secret_arn }] : [],
      local.uses_socket_mode ? [{ name = "SLACK_APP_TOKEN", valueFrom = var.slack_app_token_secret_arn }] : [],
    )
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.cutover.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "cutover"
      }
    }
  }])
}

resource "aws_ecs_service" "cutover" {
  name            = var.name
  cluster         = aws_ecs_cluster.cutover.id
  task_definition = aws_ecs_task_definition.cutover.arn
  launch_type     = "FARGATE"
  desired_count   = 1
  # One writer of the SQLite store: the old task stops before the new one starts.
  # SQLite has one writer (no overlap); with the DynamoDB table, replicas share the state.
  deployment_minimum_healthy_percent = var.create_dynamodb_table ? 100 : 0
  deployment_maximum_percent         = var.create_dynamodb_table ? 200 : 100
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }
}

resource "aws_cloudwatch_metric_alarm" "dead_letter" {
  alarm_name          = "${var.name}-dead-letter"
  alarm_description   = "Cutover dead-lettered a message it could not read."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letter.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${var.name}-queue-age"
  alarm_description   = "Cutover is not keeping up (the oldest message waits over 5 minutes)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.events.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 300
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
}
