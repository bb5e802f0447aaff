pub(super) fn local(_c: &std::path::Path, _t: std::time::Duration) -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
