//! The result table: ours, the floor, the ratio and whether it meets its goal.

pub struct Table {
    rows: Vec<Row>,
}

struct Row {
    name: String,
    ours: f64,
    floor: f64,
    /// `ours / floor` must be at most this (lower is better) ...
    max_ratio: Option<f64>,
    /// ... or at least this (higher is better).
    min_ratio: Option<f64>,
}

impl Table {
    pub fn new() -> Table {
        Table { rows: Vec::new() }
    }

    pub fn lower_better(&mut self, name: &str, ours: f64, floor: f64, max_ratio: f64) {
        self.rows.push(Row {
            name: name.to_string(),
            ours,
            floor,
            max_ratio: Some(max_ratio),
            min_ratio: None,
        });
    }

    /// A goal of 0 means "reported, no goal".
    pub fn higher_better(&mut self, name: &str, ours: f64, floor: f64, min_ratio: f64) {
        let min_ratio = (min_ratio > 0.0).then_some(min_ratio);
        self.rows.push(Row { name: name.to_string(), ours, floor, max_ratio: None, min_ratio });
    }

    pub fn print(&self) {
        println!(
            "| {:<28} | {:>10} | {:>10} | {:>11} | {:<12} |",
            "metric", "ours", "floor", "ours/floor", "goal"
        );
        println!("|{:-<30}|{:->12}|{:->12}|{:->13}|{:-<14}|", "", "", "", "", "");
        for r in &self.rows {
            let ratio = r.ours / r.floor;
            let goal = match (r.max_ratio, r.min_ratio) {
                (Some(max), _) => format!("<= {max:.2} {}", verdict(ratio <= max)),
                (_, Some(min)) => format!(">= {min:.2} {}", verdict(ratio >= min)),
                _ => "-".to_string(),
            };
            println!(
                "| {:<28} | {:>10.2} | {:>10.2} | {:>11.3} | {:<12} |",
                r.name, r.ours, r.floor, ratio, goal
            );
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}
