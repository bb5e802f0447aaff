//! Looking at a page as a person would: headless Chromium loads it, runs
//! its script, and gives back the DOM it built and a screenshot. Tests
//! that need it skip, saying why, where no Chromium is installed, except
//! with `CI=true`, where they fail (`.ci/run` installs the package).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a page showed.
pub struct Rendered {
    /// The DOM after the page's scripts ran.
    pub dom: String,
    pub screenshot: PathBuf,
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// Loads `page` in headless Chromium, or `None` after printing why it
/// cannot (a panic with `CI=true`).
pub fn render_or_skip(test: &str, page: &Path) -> Option<Rendered> {
    let Some(bin) = chromium() else {
        crate::skip_unless_ci(test, "no chromium on the PATH (apt-get install chromium)");
        return None;
    };
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let headless = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"];
    let dom = Command::new(bin).args(headless).arg("--dump-dom").arg(&url).output().unwrap();
    assert!(dom.status.success(), "{bin} --dump-dom: {}", String::from_utf8_lossy(&dom.stderr));
    let screenshot = page.with_extension("png");
    let shot = Command::new(bin)
        .args(headless)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1400,500")
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.status.success(), "{bin} --screenshot: {}", String::from_utf8_lossy(&shot.stderr));
    Some(Rendered { dom: String::from_utf8_lossy(&dom.stdout).into_owned(), screenshot })
}

/// How many times `needle` occurs in `haystack`.
pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}
