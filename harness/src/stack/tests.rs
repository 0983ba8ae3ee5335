use super::*;
use crate::profile;

fn default_profile() -> Profile {
    profile::load_default().expect("default profile loads").profile
}

#[test]
fn renders_and_passes_check() {
    for gitops in [false, true] {
        let files = render_files(&default_profile(), gitops).expect("renders");
        let report = self_check(&files).unwrap_or_else(|e| match e {
            StackError::SelfCheck { findings } => {
                panic!("gitops={gitops}:\n{}", findings.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"))
            }
            other => panic!("{other}"),
        });
        assert!(!report.has_errors());
        assert!(report.objects_checked > 10, "{}", report.objects_checked);
    }
}

#[test]
fn show_when_asked() {
    if let Some(dir) = std::env::var_os("INFRAFLUX_STACK_DUMP") {
        for gitops in [false, true] {
            let files = render_files(&default_profile(), gitops).expect("renders");
            for (k, v) in &files {
                let p = std::path::Path::new(&dir).join(if gitops { "gitops" } else { "ordered" }).join(k);
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                std::fs::write(p, v).expect("write");
            }
        }
    }
}
