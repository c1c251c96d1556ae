//! CodePipeline: `ListActionExecutions` of an execution whose manual approval succeeded: who
//! approved it.

use cutover_correlator::Observation;

use super::{AskError, Reconciler};

impl Reconciler {
    /// `ListActionExecutions` of one execution: the approval action that succeeded and who
    /// updated it (`updatedBy`: the approver's ARN).
    pub async fn approver(&mut self, pipeline: &str, execution_id: &str) -> Result<Option<Observation>, AskError> {
        let Some(cp) = self.codepipeline.clone() else { return Ok(None) };
        self.paced().await;
        let out = cp
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let approval = out.action_execution_details().iter().find(|a| {
            a.status() == Some(&aws_sdk_codepipeline::types::ActionExecutionStatus::Succeeded)
                && a.input()
                    .and_then(|i| i.action_type_id())
                    .is_some_and(|t| t.category() == &aws_sdk_codepipeline::types::ActionCategory::Approval)
        });
        Ok(Some(Observation::Approval {
            execution_id: execution_id.to_owned(),
            approved_by: approval.and_then(|a| a.updated_by()).map(str::to_owned),
        }))
    }
}
