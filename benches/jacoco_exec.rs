//! Speed of the JaCoCo exec reader/writer, the reply scanner and the class id, on data shaped
//! like a large service: 5 000 classes of 60 probes each (about a third set).

use std::hint::black_box;

use covtop::java::crc64;
use covtop::java::exec::{self, ClassProbes, ExecData, SessionInfo};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn big_exec() -> ExecData {
    let mut d = ExecData::default();
    d.sessions.push(SessionInfo {
        id: "shop-7d9f-abc12".into(),
        start: 1_700_000_000_000,
        dump: 1_700_000_100_000,
    });
    for i in 0..5_000u64 {
        let probes = (0..60)
            .map(|p| (p as u64 * 31 + i).is_multiple_of(3))
            .collect();
        d.classes.insert(
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ClassProbes {
                name: format!("com/example/shop/module{}/Class{i}$Inner", i % 40),
                probes,
            },
        );
    }
    d
}

fn bench(c: &mut Criterion) {
    let data = big_exec();
    let bytes = data.to_bytes().expect("write");
    let mut reply = bytes.clone();
    reply.push(exec::BLOCK_CMDOK);

    let mut g = c.benchmark_group("exec");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_5000_classes", |b| {
        b.iter(|| exec::parse(black_box(&bytes), "bench").expect("parse"))
    });
    g.bench_function("scan_reply_5000_classes", |b| {
        b.iter(|| exec::scan_reply(black_box(&reply), "bench", 0).expect("scan"))
    });
    g.bench_function("write_5000_classes", |b| {
        b.iter(|| black_box(&data).to_bytes().expect("write"))
    });
    g.bench_function("merge_5000_classes", |b| {
        b.iter(|| {
            let mut m = data.clone();
            m.merge(black_box(&data)).expect("merge");
            m
        })
    });
    g.finish();

    let class_file: Vec<u8> = (0..8 * 1024u32).map(|i| (i * 7) as u8).collect();
    let mut g = c.benchmark_group("crc64");
    g.throughput(Throughput::Bytes(class_file.len() as u64));
    g.bench_function("class_id_8k", |b| {
        b.iter(|| crc64::class_id(black_box(&class_file)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
