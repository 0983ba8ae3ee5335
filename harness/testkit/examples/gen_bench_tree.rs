//! Writes the `.ci/bench-check` inputs: `gen_bench_tree <objects> <tree-dir>
//! [<schema-dir>]`. The tree holds `<objects>` valid stack objects; the
//! schema dir receives kubeconform schemas converted from the pinned
//! upstream CRDs (read from the Go module cache, downloaded if missing).

use std::path::PathBuf;

use anyhow::{Context, bail};
use infraflux_testkit::bench_tree;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(count), Some(tree)) = (args.first(), args.get(1)) else {
        bail!("usage: gen_bench_tree <objects> <tree-dir> [<schema-dir>]");
    };
    let count: usize = count.parse().with_context(|| format!("failed to parse object count `{count}`"))?;
    let files = bench_tree::write_tree(&PathBuf::from(tree), count)?;
    println!("wrote {count} objects in {files} files under {tree}");
    if let Some(schemas) = args.get(2) {
        let crds = infraflux_testkit::controlplane::crds::upstream_crd_files()
            .context("failed to locate the pinned upstream CRDs")?;
        let n = bench_tree::write_schemas(&PathBuf::from(schemas), &crds)?;
        println!("wrote {n} kubeconform schemas from {} CRD files under {schemas}", crds.len());
    }
    Ok(())
}
