//! Builders for SQS message bodies in the exact shapes AWS sends, field for field after the
//! published samples in `shared/event-samples/` (named on each builder). Used to write the
//! recorded scenarios and the benchmark stream; never by the code under test.

use cutover_events::Timestamp;
use serde_json::{Value, json};

/// Account and region of a generated fleet.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub account: String,
    pub region: String,
}

impl Default for Fleet {
    fn default() -> Self {
        Self { account: "123456789012".into(), region: "eu-west-1".into() }
    }
}

/// The lifecycle events of a CodeDeploy ECS target, in order (CD-2023 `deployment-steps-ecs.md`).
pub const ECS_LIFECYCLE: [&str; 8] = [
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// A deterministic UUID-looking id from a seed (splitmix64).
pub fn uuid(seed: u64) -> String {
    let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Second-precision envelope time, as EventBridge writes it.
fn envelope_time(t: Timestamp) -> String {
    let s = t.to_string();
    format!("{}Z", &s[..19])
}

/// `Thu Oct 13 15:50:45 UTC 2022`, as captured CodeDeploy triggers write times.
pub fn java_date(t: Timestamp) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let s = t.to_string();
    let day_index = t.millis().div_euclid(86_400_000).rem_euclid(7) as usize;
    let month: usize = s[5..7].parse().unwrap_or(1);
    format!("{} {} {} {} UTC {}", DAYS[day_index], MONTHS[month - 1], &s[8..10], &s[11..19], &s[0..4])
}

impl Fleet {
    fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{resource}", self.region, self.account)
    }

    fn envelope(
        &self,
        id: &str,
        detail_type: &str,
        source: &str,
        t: Timestamp,
        resources: Vec<String>,
        detail: Value,
    ) -> Value {
        json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account,
            "time": envelope_time(t),
            "region": self.region,
            "resources": resources,
            "detail": detail,
        })
    }

    /// `ECS Task State Change` of a service task, after
    /// `ecs-task-state-change.stopped.elb-health-check.service.json` and the 2025 guide sample.
    pub fn task(&self, id: &str, t: Timestamp, task: &TaskShape<'_>) -> Value {
        let task_arn = self.arn("ecs", &format!("task/{}/{}", task.cluster, task.task_id));
        let cluster_arn = self.arn("ecs", &format!("cluster/{}", task.cluster));
        let created = Timestamp(task.created_at.millis());
        let mut container = json!({
            "containerArn": self.arn("ecs", &format!("container/{}/{}/{}", task.cluster, task.task_id, uuid(task.seed))),
            "lastStatus": task.last_status,
            "name": task.service,
            "image": task.image,
            "runtimeId": format!("{}-{}", task.task_id, task.seed % 10_000_000_000),
            "taskArn": task_arn,
            "networkInterfaces": [{"attachmentId": uuid(task.seed + 1), "privateIpv4Address": format!("10.0.{}.{}", task.seed % 250, task.seed % 200 + 10)}],
            "cpu": "0",
        });
        if let Some(code) = task.exit_code {
            container["exitCode"] = json!(code);
        }
        let mut detail = json!({
            "attachments": [{
                "id": uuid(task.seed + 1),
                "type": "eni",
                "status": if task.last_status == "STOPPED" { "DELETED" } else { "ATTACHED" },
                "details": [
                    {"name": "subnetId", "value": "subnet-045dadaa579a9d61f"},
                    {"name": "networkInterfaceId", "value": format!("eni-{:017x}", task.seed)},
                    {"name": "privateIPv4Address", "value": format!("10.0.{}.{}", task.seed % 250, task.seed % 200 + 10)}
                ]
            }],
            "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
            "availabilityZone": format!("{}a", self.region),
            "clusterArn": cluster_arn,
            "connectivity": "CONNECTED",
            "connectivityAt": created.plus_millis(3_000).to_string(),
            "containers": [container],
            "cpu": "512",
            "createdAt": created.to_string(),
            "desiredStatus": task.desired_status,
            "enableExecuteCommand": false,
            "ephemeralStorage": {"sizeInGiB": 20},
            "group": format!("service:{}", task.service),
            "launchType": "FARGATE",
            "lastStatus": task.last_status,
            "memory": "1024",
            "overrides": {"containerOverrides": [{"name": task.service}]},
            "platformVersion": "1.4.0",
            "startedBy": task.started_by,
            "taskArn": task_arn,
            "taskDefinitionArn": task.task_definition,
            "updatedAt": t.to_string(),
            "version": task.version,
        });
        if matches!(task.last_status, "RUNNING" | "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" | "STOPPED") {
            detail["pullStartedAt"] = json!(created.plus_millis(20_000).to_string());
            detail["pullStoppedAt"] = json!(created.plus_millis(40_000).to_string());
            detail["startedAt"] = json!(created.plus_millis(55_000).to_string());
        }
        if let Some((code, reason)) = task.stop {
            detail["stopCode"] = json!(code);
            detail["stoppedReason"] = json!(reason);
            detail["stoppingAt"] = json!(t.to_string());
        }
        if task.last_status == "STOPPED" {
            detail["stoppedAt"] = json!(t.to_string());
            detail["executionStoppedAt"] = json!(t.plus_millis(-500).to_string());
        }
        self.envelope(id, "ECS Task State Change", "aws.ecs", t, vec![task_arn.clone()], detail)
    }

    /// `ECS Deployment State Change`, after `ecs-deployment-state-change.completed.captured.json`.
    pub fn ecs_deployment(&self, id: &str, t: Timestamp, d: &EcsDeploymentShape<'_>) -> Value {
        let EcsDeploymentShape { cluster, service, event_name, deployment_id, reason } = *d;
        let detail = json!({
            "eventType": if event_name.ends_with("FAILED") { "ERROR" } else { "INFO" },
            "eventName": event_name,
            "deploymentId": deployment_id,
            "updatedAt": t.to_string(),
            "reason": reason,
        });
        let service_arn = self.arn("ecs", &format!("service/{cluster}/{service}"));
        self.envelope(id, "ECS Deployment State Change", "aws.ecs", t.plus_millis(900), vec![service_arn], detail)
    }

    /// `ECS Service Action`, after `ecs-service-action.service-steady-state.json`.
    pub fn service_action(&self, id: &str, t: Timestamp, cluster: &str, service: &str, event_name: &str) -> Value {
        let detail = json!({
            "eventType": "INFO",
            "eventName": event_name,
            "clusterArn": self.arn("ecs", &format!("cluster/{cluster}")),
            "createdAt": t.to_string(),
        });
        let service_arn = self.arn("ecs", &format!("service/{cluster}/{service}"));
        self.envelope(id, "ECS Service Action", "aws.ecs", t, vec![service_arn], detail)
    }

    /// `ECS Hook State Change`, after `ecs-hook-state-change.hook-awaiting-action.json`.
    pub fn hook(&self, id: &str, t: Timestamp, h: &HookShape<'_>) -> Value {
        let HookShape { cluster, service, deployment, event_name, stage } = *h;
        let sd_arn = self.arn("ecs", &format!("service-deployment/{cluster}/{service}/{deployment}"));
        let detail = json!({
            "eventType": "INFO",
            "eventName": event_name,
            "hookId": format!("ecs-pause-{}", uuid(t.millis() as u64).replace('-', "")),
            "hookType": "PAUSE",
            "expiresAt": envelope_time(t.plus_millis(600_000)),
            "lifecycleStage": stage,
            "clusterArn": self.arn("ecs", &format!("cluster/{cluster}")),
            "serviceArn": self.arn("ecs", &format!("service/{cluster}/{service}")),
            "serviceDeploymentArn": sd_arn,
            "updatedAt": format!("{}{}Z", &t.to_string()[..23], "059641"),
        });
        self.envelope(id, "ECS Hook State Change", "aws.ecs", t, vec![sd_arn.clone()], detail)
    }

    /// `CodeDeploy Deployment/Instance State-change Notification`, after the GO samples.
    pub fn codedeploy(&self, id: &str, t: Timestamp, c: &CodeDeployShape<'_>) -> Value {
        let CodeDeployShape { app, group, deployment_id, state, instance } = *c;
        let mut detail = json!({
            "instanceGroupId": uuid(deployment_id.len() as u64 + 77),
            "region": self.region,
            "application": app,
            "deploymentId": deployment_id,
            "state": state,
            "deploymentGroup": group,
        });
        let mut resources = vec![
            self.arn("codedeploy", &format!("application:{app}")),
            self.arn("codedeploy", &format!("deploymentgroup:{app}/{group}")),
        ];
        let detail_type = match instance {
            Some(instance_id) => {
                detail["instanceId"] = json!(instance_id);
                resources.insert(0, self.arn("ecs", &format!("service/{}", instance_id.replace(':', "/"))));
                "CodeDeploy Instance State-change Notification"
            }
            None => "CodeDeploy Deployment State-change Notification",
        };
        self.envelope(id, detail_type, "aws.codedeploy", t, resources, detail)
    }

    /// A deployment-level trigger message as captured (JSON-encoded-string objects, Java dates).
    pub fn trigger(&self, tr: &TriggerShape<'_>) -> Value {
        let TriggerShape { app, group, deployment_id, status, created, completed, extra } = *tr;
        let mut m = json!({
            "region": self.region,
            "accountId": self.account,
            "eventTriggerName": "cutover",
            "applicationName": app,
            "deploymentId": deployment_id,
            "deploymentGroupName": group,
            "createTime": java_date(created),
            "completeTime": completed.map(java_date),
            "status": status,
        });
        if completed.is_some() {
            m["deploymentOverview"] =
                json!("{\"Succeeded\":1,\"Failed\":0,\"Skipped\":0,\"InProgress\":0,\"Pending\":0}");
        }
        for (k, v) in extra {
            m[*k] = v.clone();
        }
        m
    }

    /// An instance-level trigger (documented shape, epoch-string times).
    pub fn instance_trigger(
        &self,
        deployment_id: &str,
        instance_id: &str,
        status: &str,
        updated: Timestamp,
        events: &[(&str, &str, Timestamp, Timestamp)],
    ) -> Value {
        let epoch = |t: Timestamp| format!("{}.{:03}", t.millis() / 1000, t.millis() % 1000);
        json!({
            "region": self.region,
            "accountId": self.account,
            "eventTriggerName": "cutover",
            "deploymentId": deployment_id,
            "instanceId": instance_id,
            "lastUpdatedAt": epoch(updated),
            "instanceStatus": status,
            "lifecycleEvents": events.iter().map(|(name, st, start, end)| json!({
                "LifecycleEvent": name, "LifecycleEventStatus": st, "StartTime": epoch(*start), "EndTime": epoch(*end)
            })).collect::<Vec<_>>(),
        })
    }

    /// The SQS body of an SNS notification, after `sns-envelope.sqs-body.sns-guide.json`.
    pub fn sns(&self, message_id: &str, topic: &str, subject: Option<&str>, message: &Value, t: Timestamp) -> Value {
        let mut v = json!({
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.arn("sns", topic),
            "Message": cutover_events::canonical::sort_keys(message.clone()).to_string(),
            "Timestamp": t.to_string(),
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": format!("https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={}:{}", self.arn("sns", topic), uuid(7)),
        });
        if let Some(s) = subject {
            v["Subject"] = json!(s);
        }
        v
    }

    /// CodePipeline execution / stage / action state change, after the current doc samples.
    pub fn pipeline(&self, id: &str, t: Timestamp, p: &PipelineShape<'_>) -> Value {
        let mut detail = json!({
            "pipeline": p.pipeline,
            "execution-id": p.execution_id,
            "state": p.state,
            "version": 3.0,
            "pipeline-execution-attempt": 1.0,
        });
        let detail_type = match (p.stage, p.action) {
            (Some(stage), Some(action)) => {
                detail["stage"] = json!(stage);
                detail["action"] = json!(action);
                detail["action-execution-id"] = json!(uuid(t.millis() as u64 ^ 0x5a5a));
                detail["region"] = json!(self.region);
                let (owner, provider, category) = p.action_type.unwrap_or(("AWS", "CodeDeployToECS", "Deploy"));
                detail["type"] = json!({"owner": owner, "provider": provider, "category": category, "version": "1"});
                if let Some(ext) = p.external_id {
                    detail["execution-result"] = json!({
                        "external-execution-url": format!("https://{}.console.aws.amazon.com/codedeploy/home?#/deployments/{ext}", self.region),
                        "external-execution-summary": format!("Deployment {ext} {}", p.state.to_lowercase()),
                        "external-execution-id": ext,
                    });
                }
                "CodePipeline Action Execution State Change"
            }
            (Some(stage), None) => {
                detail["stage"] = json!(stage);
                "CodePipeline Stage Execution State Change"
            }
            _ => {
                detail["start-time"] = json!(t.to_string());
                if let Some(trigger) = &p.trigger {
                    detail["execution-trigger"] = trigger.clone();
                }
                "CodePipeline Pipeline Execution State Change"
            }
        };
        let resources = vec![self.arn("codepipeline", p.pipeline)];
        self.envelope(id, detail_type, "aws.codepipeline", t, resources, detail)
    }
}

/// The parts of an `ECS Deployment State Change` that vary.
#[derive(Clone, Copy, Debug)]
pub struct EcsDeploymentShape<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS`, `…_COMPLETED`, `…_FAILED`.
    pub event_name: &'a str,
    pub deployment_id: &'a str,
    pub reason: &'a str,
}

/// The parts of an `ECS Hook State Change` that vary.
#[derive(Clone, Copy, Debug)]
pub struct HookShape<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    /// The service deployment's id (the last part of its ARN).
    pub deployment: &'a str,
    pub event_name: &'a str,
    /// The lifecycle stage, e.g. `POST_PRODUCTION_TRAFFIC_SHIFT`.
    pub stage: &'a str,
}

/// The parts of a CodeDeploy state-change notification that vary; `instance` (`cluster:service`)
/// makes it the instance-level one.
#[derive(Clone, Copy, Debug)]
pub struct CodeDeployShape<'a> {
    pub app: &'a str,
    pub group: &'a str,
    pub deployment_id: &'a str,
    pub state: &'a str,
    pub instance: Option<&'a str>,
}

/// The parts of a deployment-level CodeDeploy trigger that vary; `extra` adds or replaces keys.
#[derive(Clone, Copy, Debug)]
pub struct TriggerShape<'a> {
    pub app: &'a str,
    pub group: &'a str,
    pub deployment_id: &'a str,
    pub status: &'a str,
    pub created: Timestamp,
    pub completed: Option<Timestamp>,
    pub extra: &'a [(&'a str, Value)],
}

/// The parts of a task event that vary.
#[derive(Clone, Debug)]
pub struct TaskShape<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub task_id: &'a str,
    pub started_by: &'a str,
    pub task_definition: &'a str,
    pub image: &'a str,
    pub last_status: &'a str,
    pub desired_status: &'a str,
    pub version: u64,
    pub created_at: Timestamp,
    pub stop: Option<(&'a str, &'a str)>,
    pub exit_code: Option<i64>,
    pub seed: u64,
}

/// An action's `(owner, provider, category)`.
pub type ActionType<'a> = (&'a str, &'a str, &'a str);

/// A builder of the events of one pipeline execution:
/// `step(state, stage, action, (owner, provider, category), external id)`.
pub fn pipeline_steps<'a>(
    pipeline: &'a str,
    execution_id: &'a str,
) -> impl Fn(&'a str, Option<&'a str>, Option<&'a str>, Option<ActionType<'a>>, Option<&'a str>) -> PipelineShape<'a> {
    move |state, stage, action, action_type, external_id| PipelineShape {
        pipeline,
        execution_id,
        state,
        stage,
        action,
        action_type,
        external_id,
        trigger: None,
    }
}

/// The parts of a CodePipeline event that vary.
#[derive(Clone, Debug, Default)]
pub struct PipelineShape<'a> {
    pub pipeline: &'a str,
    pub execution_id: &'a str,
    pub state: &'a str,
    pub stage: Option<&'a str>,
    pub action: Option<&'a str>,
    /// `(owner, provider, category)`.
    pub action_type: Option<ActionType<'a>>,
    pub external_id: Option<&'a str>,
    pub trigger: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_dates_match_the_captured_format() {
        let t = Timestamp::parse("2022-10-13T15:50:45Z").unwrap();
        assert_eq!(java_date(t), "Thu Oct 13 15:50:45 UTC 2022");
        assert_eq!(Timestamp::parse(&java_date(t)).unwrap(), t);
    }

    #[test]
    fn uuids_are_distinct_and_shaped() {
        let a = uuid(1);
        assert_eq!(a.len(), 36);
        assert_ne!(a, uuid(2));
        assert_eq!(a, uuid(1));
    }
}
