output "queue_url" {
  value = aws_sqs_queue.events.url
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letter.url
}

output "codedeploy_triggers_topic_arn" {
  description = "Point the CodeDeploy deployment groups' triggers here."
  value       = aws_sns_topic.codedeploy_triggers.arn
}

output "event_bus_arn" {
  description = "Subscribe to Cutover's lifecycle events on this bus."
  value       = aws_cloudwatch_event_bus.cutover.arn
}

output "receipts_queue_url" {
  description = "Cutover's own events again (read by Cutover only)."
  value       = aws_sqs_queue.receipts.url
}

output "approval_notifications_topic_arn" {
  description = "Point manual approval actions' notifications (NotificationArn) here."
  value       = aws_sns_topic.approval_notifications.arn
}
