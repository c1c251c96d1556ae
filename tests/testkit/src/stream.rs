//! A large, realistic event stream for the benchmark: many services across clusters, each
//! deploying in turn (ECS rolling, some tripping the circuit breaker, CodeDeploy blue/green via
//! EventBridge and SNS, some driven by CodePipeline), plus steady-state noise, in AWS time
//! order. Deterministic: the same parameters give the same bytes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use cutover_events::Timestamp;
use serde_json::Value;

use crate::rollout::{Ids, Outcome, Release, Service, Timed};
use crate::shapes::{CodeDeployShape, TriggerShape};
use crate::shapes::{Fleet, PipelineShape};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Params {
    pub services: usize,
    /// Stop once at least this many events were written.
    pub events: usize,
    /// Seconds between the starts of consecutive deployments (fleet-wide).
    pub spacing_secs: i64,
}

impl Default for Params {
    fn default() -> Self {
        Self { services: 1_000, events: 200_000, spacing_secs: 20 }
    }
}

/// Counts of what was generated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    pub events: usize,
    pub rolling: usize,
    pub circuit_breaker: usize,
    pub blue_green: usize,
    pub pipelines: usize,
}

const CLUSTERS: [&str; 8] = ["prod-eu", "prod-us", "prod-ap", "staging-eu", "staging-us", "dev", "batch-eu", "edge"];

fn small_hash(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 27)
}

/// Generates the stream, handing each SQS body to `sink` in AWS time order.
pub fn generate(params: &Params, mut sink: impl FnMut(&str)) -> Generated {
    let fleet = Fleet::default();
    let mut ids = Ids::from(1_000_000_000);
    let t0 = Timestamp::parse("2026-03-02T00:00:00Z").unwrap_or_default();
    let mut services: Vec<Service> = (0..params.services)
        .map(|i| Service {
            cluster: CLUSTERS[i % CLUSTERS.len()].to_owned(),
            name: format!("svc-{i:04}"),
            running: Vec::new(),
        })
        .collect();
    let mut generated = Generated::default();
    // Pending events, earliest first; flushed once no later deployment can precede them.
    let mut heap: BinaryHeap<Reverse<(Timestamp, u64, String)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<Reverse<(Timestamp, u64, String)>>, events: Vec<Timed>| {
        for (t, v) in events {
            seq += 1;
            heap.push(Reverse((t, seq, cutover_events::canonical::sort_keys(v).to_string())));
        }
    };
    for (i, svc) in services.iter_mut().enumerate() {
        let td = format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{}:1", svc.name);
        let image = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{}:1.0.{i}", svc.name);
        let count = 2 + (i % 3);
        let seeded = svc.seed_running(
            &fleet,
            &mut ids,
            &Release {
                deployment: &format!("ecs-svc/{}", 9_000_000_000_000_000_000u64 + i as u64),
                task_definition: &td,
                image: &image,
                count,
                at: t0.plus_millis(i as i64 * 50),
            },
        );
        push(&mut heap, seeded);
    }
    let mut k: u64 = 0;
    while generated.events < params.events {
        let start = t0.plus_millis(3_600_000 + k as i64 * params.spacing_secs * 1000);
        // Everything before the window any future deployment can reach is final.
        let horizon = start.plus_millis(-60_000);
        while heap.peek().is_some_and(|Reverse((t, _, _))| *t < horizon) {
            if let Some(Reverse((_, _, line))) = heap.pop() {
                sink(&line);
                generated.events += 1;
            }
        }
        let h = small_hash(k);
        let index = (h % params.services as u64) as usize;
        let svc = &mut services[index];
        let rev = k + 2;
        let td = format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{}:{rev}", svc.name);
        let image = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{}:1.{rev}.0", svc.name);
        let count = 2 + (h >> 8) as usize % 3;
        let events = match (h >> 16) % 100 {
            0..=4 => {
                generated.circuit_breaker += 1;
                let id = format!("ecs-svc/{}", 1_000_000_000_000_000_000u64 + k);
                let rollback = format!("ecs-svc/{}", 2_000_000_000_000_000_000u64 + k);
                svc.rolling(
                    &fleet,
                    &mut ids,
                    &Release { deployment: &id, task_definition: &td, image: &image, count, at: start },
                    Outcome::CircuitBreaker,
                    &rollback,
                )
            }
            5..=69 => {
                generated.rolling += 1;
                let id = format!("ecs-svc/{}", 1_000_000_000_000_000_000u64 + k);
                svc.rolling(
                    &fleet,
                    &mut ids,
                    &Release { deployment: &id, task_definition: &td, image: &image, count, at: start },
                    Outcome::Completes,
                    "",
                )
            }
            n => {
                generated.blue_green += 1;
                let with_pipeline = n >= 90;
                generated.pipelines += usize::from(with_pipeline);
                blue_green(&fleet, &mut ids, svc, k, start, with_pipeline)
            }
        };
        push(&mut heap, events);
        let steady = fleet.service_action(
            &ids.event_id(),
            start.plus_millis(600_000),
            &svc.cluster,
            &svc.name,
            "SERVICE_STEADY_STATE",
        );
        push(&mut heap, vec![(start.plus_millis(600_000), steady)]);
        k += 1;
    }
    while let Some(Reverse((_, _, line))) = heap.pop() {
        sink(&line);
        generated.events += 1;
    }
    generated
}

/// A CodeDeploy blue/green deployment reported on both paths (EventBridge and SNS triggers),
/// optionally run by a CodePipeline execution.
fn blue_green(fleet: &Fleet, ids: &mut Ids, svc: &Service, k: u64, t: Timestamp, with_pipeline: bool) -> Vec<Timed> {
    let app = format!("AppECS-{}-{}", svc.cluster, svc.name);
    let group = format!("DgpECS-{}-{}", svc.cluster, svc.name);
    let dep = format!("d-{:09}", k);
    let target = format!("{}:{}", svc.cluster, svc.name);
    let at = |s: i64| t.plus_millis(s * 1000);
    let topic = format!("codedeploy-{}", svc.name);
    let mut out: Vec<Timed> = Vec::new();
    let mut sns = |ids: &mut Ids, when: Timestamp, message: Value| {
        let id = crate::shapes::uuid(ids.bump());
        out.push((when, fleet.sns(&id, &topic, None, &message, when.plus_millis(400))));
    };
    sns(
        ids,
        at(0),
        fleet.trigger(&TriggerShape {
            app: &app,
            group: &group,
            deployment_id: &dep,
            status: "CREATED",
            created: at(0),
            completed: None,
            extra: &[],
        }),
    );
    sns(
        ids,
        at(1),
        fleet.trigger(&TriggerShape {
            app: &app,
            group: &group,
            deployment_id: &dep,
            status: "IN_PROGRESS",
            created: at(0),
            completed: None,
            extra: &[],
        }),
    );
    let lifecycle: Vec<(&str, &str, Timestamp, Timestamp)> = crate::shapes::ECS_LIFECYCLE
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, "Succeeded", at(5 + i as i64 * 30), at(34 + i as i64 * 30)))
        .collect();
    sns(ids, at(250), fleet.instance_trigger(&dep, &target, "Succeeded", at(250), &lifecycle));
    sns(
        ids,
        at(550),
        fleet.trigger(&TriggerShape {
            app: &app,
            group: &group,
            deployment_id: &dep,
            status: "SUCCEEDED",
            created: at(0),
            completed: Some(at(550)),
            extra: &[],
        }),
    );
    out.push((
        at(0),
        fleet.codedeploy(
            &ids.event_id(),
            at(0),
            &CodeDeployShape { app: &app, group: &group, deployment_id: &dep, state: "START", instance: None },
        ),
    ));
    out.push((
        at(249),
        fleet.codedeploy(
            &ids.event_id(),
            at(249),
            &CodeDeployShape {
                app: &app,
                group: &group,
                deployment_id: &dep,
                state: "SUCCESS",
                instance: Some(&target),
            },
        ),
    ));
    out.push((
        at(550),
        fleet.codedeploy(
            &ids.event_id(),
            at(550),
            &CodeDeployShape { app: &app, group: &group, deployment_id: &dep, state: "SUCCESS", instance: None },
        ),
    ));
    if with_pipeline {
        let pipeline = format!("{}-release", svc.name);
        let exec = crate::shapes::uuid(k ^ 0xABCD);
        let p = crate::shapes::pipeline_steps(&pipeline, &exec);
        let deploy = Some(("AWS", "CodeDeployToECS", "Deploy"));
        out.push((at(-30), fleet.pipeline(&ids.event_id(), at(-30), &PipelineShape { trigger: Some(serde_json::json!({"trigger-type": "StartPipelineExecution", "trigger-detail": "arn:aws:sts::123456789012:assumed-role/Deployer/ci"})), ..p("STARTED", None, None, None, None) })));
        out.push((
            at(-2),
            fleet.pipeline(&ids.event_id(), at(-2), &p("STARTED", Some("Deploy"), Some("BlueGreen"), deploy, None)),
        ));
        out.push((
            at(551),
            fleet.pipeline(
                &ids.event_id(),
                at(551),
                &p("SUCCEEDED", Some("Deploy"), Some("BlueGreen"), deploy, Some(&dep)),
            ),
        ));
        out.push((at(552), fleet.pipeline(&ids.event_id(), at(552), &p("SUCCEEDED", None, None, None, None))));
    }
    out
}

/// Every one of `services` services mid-rollout: its old tasks running (the census), then a
/// deployment started whose new tasks run but whose old tasks were not told to stop yet, so
/// each deployment stays in flight. For the memory figure "N services, each with a deployment
/// in flight".
pub fn in_flight(services: usize, mut sink: impl FnMut(&str)) -> usize {
    let fleet = Fleet::default();
    let mut ids = Ids::from(2_000_000_000);
    let t0 = Timestamp::parse("2026-03-02T00:00:00Z").unwrap_or_default();
    let mut events: Vec<Timed> = Vec::new();
    for i in 0..services {
        let mut svc = Service {
            cluster: CLUSTERS[i % CLUSTERS.len()].to_owned(),
            name: format!("svc-{i:05}"),
            running: Vec::new(),
        };
        let td = |rev: u32| format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{}:{rev}", svc.name);
        let image = |tag: &str| format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{}:{tag}", svc.name);
        let at = t0.plus_millis(i as i64 * 100);
        let (old_td, old_image, new_td, new_image) = (td(1), image("1.0.0"), td(2), image("1.1.0"));
        events.extend(svc.seed_running(
            &fleet,
            &mut ids,
            &Release {
                deployment: &format!("ecs-svc/{}", 3_000_000_000_000_000_000u64 + i as u64),
                task_definition: &old_td,
                image: &old_image,
                count: 2,
                at,
            },
        ));
        events.extend(svc.start_only(
            &fleet,
            &mut ids,
            &Release {
                deployment: &format!("ecs-svc/{}", 4_000_000_000_000_000_000u64 + i as u64),
                task_definition: &new_td,
                image: &new_image,
                count: 2,
                at: at.plus_millis(60_000),
            },
        ));
    }
    events.sort_by_key(|(t, _)| *t);
    let n = events.len();
    for (_, v) in events {
        sink(&cutover_events::canonical::sort_keys(v).to_string());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stream_is_ordered_deterministic_and_parses() {
        let params = Params { services: 20, events: 2_000, spacing_secs: 20 };
        let mut a = Vec::new();
        let g = generate(&params, |l| a.push(l.to_owned()));
        let mut b = Vec::new();
        generate(&params, |l| b.push(l.to_owned()));
        assert_eq!(a, b);
        assert!(g.events >= 2_000 && g.rolling > 0 && g.blue_green > 0, "{g:?}");
        for line in &a {
            cutover_events::parse_body(line).unwrap();
        }
    }
}
