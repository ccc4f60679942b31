//! How long one poll of a goc target takes against the in-process test servers: 8 replicas of a
//! 5,000-block profile (about 300 KiB each), fetched separately and concurrently.

use std::time::Duration;

use covtop::agent::goc_v1::GocV1Target;
use covtop::agent::goc_v2::GocV2Target;
use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::v2::{AgentSpec, ProfileSource, Server};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use criterion::{Criterion, criterion_group, criterion_main};

const REPLICAS: usize = 8;
const BLOCKS: usize = 5_000;

fn profile_text() -> String {
    let mut text = String::from("mode: count\n");
    for i in 0..BLOCKS {
        let file = i / 50;
        let line = (i % 50) * 3 + 1;
        text.push_str(&format!(
            "example.com/big/pkg{}/file{file}.go:{line}.2,{}.10 2 {}\n",
            file % 7,
            line + 2,
            i % 5
        ));
    }
    text
}

fn polls(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let text = profile_text();
    let (center, _agents, server) = rt.block_on(async {
        let center = Center::start().await.expect("center");
        let server = Server::start().await.expect("v2 server");
        let mut agents = Vec::new();
        for replica in 0..REPLICAS {
            let p = SharedProfile::new(AgentProfile::from_text(&text).expect("profile"));
            agents.push(
                Agent::start("big", p.clone(), 0, Some(&center.url()))
                    .await
                    .expect("agent"),
            );
            server.add_agent(AgentSpec {
                hostname: "h".into(),
                cmdline: "big".into(),
                pid: replica as u32 + 1,
                extra: String::new(),
                watch_mode: false,
                source: ProfileSource::Memory(p),
            });
        }
        (center, agents, server)
    });
    let v1 = GocV1Target::new(&center.url(), vec![], vec![], Duration::from_secs(10)).expect("v1");
    let v2 = GocV2Target::new(&server.url(), vec![], None, Duration::from_secs(10)).expect("v2");
    let mut group = c.benchmark_group("goc_poll_8x5000_blocks");
    group.sample_size(20);
    group.bench_function("v1_center_per_address", |b| {
        b.iter(|| {
            let r = rt.block_on(v1.poll());
            assert_eq!(r.dumps.len(), REPLICAS);
        })
    });
    group.bench_function("v2_server_per_id", |b| {
        b.iter(|| {
            let r = rt.block_on(v2.poll());
            assert_eq!(r.dumps.len(), REPLICAS);
        })
    });
    group.finish();
}

criterion_group!(benches, polls);
criterion_main!(benches);
