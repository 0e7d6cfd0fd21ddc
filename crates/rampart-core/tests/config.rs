//! Config loading end to end: the reference example and the quickstart load (TOML and YAML alike),
//! and every validation rule is refused with its field path, line and a message saying what is
//! wrong. Invalid configs are a shared base plus the snippet under test; the expected line is found
//! by a marker in that snippet, so the cases stay readable.

use std::path::{Path, PathBuf};

use rampart_core::config::{
    check_file, check_str, load_file, load_str, Approval, Compare, ConfigError, Control, Design,
    Duration, Format, MetricKind, OnFail, StoppingRule, UnitKind, Worsening,
};

/// Two models and three metrics that the snippets refer to.
const BASE: &str = r#"[[models]]
name = "checkout-recs"
variants = [
  { name = "v1" },
  { name = "v2" },
  { name = "v3" },
]

[[models]]
name = "search"
variants = [{ name = "a" }, { name = "b" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[metrics]]
name = "ctr"
kind = "ratio"
numerator = "click"
denominator = "impression"

[[metrics]]
name = "latency"
kind = "latency"
event = "response"
"#;

/// A valid rollout of checkout-recs; cases edit it by text replacement.
const ROLLOUT: &str = r#"
[[rollouts]]
name = "recs-v2"
model = "checkout-recs"
baseline = "v1"
candidate = "v2"
stages = [
  { traffic = 1, min_duration = "1h" },
  { traffic = 50, min_duration = "24h" },
  { traffic = 100 },
]
gates = [
  { metric = "conversion", compare = "control", max_worsening = "2%" },
]
"#;

/// A valid split experiment of checkout-recs.
const EXPERIMENT: &str = r#"
[[experiments]]
name = "bakeoff"
model = "checkout-recs"
variants = ["v1", "v2"]
traffic = 50
layer = "recs"
primary = "conversion"
"#;

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs")
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn errors_of(text: &str, format: Format) -> Vec<ConfigError> {
    match load_str(text, format, "test.conf") {
        Ok(_) => panic!("the config was accepted:\n{text}"),
        Err(e) => e.0,
    }
}

/// The 1-based line of the only line of `text` containing `marker`.
fn line_of(text: &str, marker: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "marker {marker:?} must be on exactly one line, found on {hits:?}"
    );
    hits[0]
}

/// Asserts that `text` fails with exactly one problem, at `field`, on the line holding `marker`,
/// with `message` in its text.
fn refused(text: &str, field: &str, marker: &str, message: &str) {
    refused_in(text, Format::Toml, field, marker, message)
}

fn refused_in(text: &str, format: Format, field: &str, marker: &str, message: &str) {
    refused_at(text, format, field, line_of(text, marker), message)
}

/// As [`refused`], for problems about a key that is absent: they point at the enclosing table.
fn refused_at(text: &str, format: Format, field: &str, line: usize, message: &str) {
    let errors = errors_of(text, format);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error at {field}, got:\n{}",
        shown.join("\n")
    );
    let e = &errors[0];
    assert_eq!(e.field, field, "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    assert!(
        e.message.contains(message),
        "{e:?} does not say {message:?}"
    );
    assert_eq!(e.file, "test.conf");
}

fn with(snippets: &[&str]) -> String {
    let mut text = BASE.to_string();
    for s in snippets {
        text.push_str(s);
    }
    text
}

fn rollout_with(from: &str, to: &str) -> String {
    assert!(ROLLOUT.contains(from), "{from:?} is not in the rollout");
    with(&[&ROLLOUT.replacen(from, to, 1)])
}

fn experiment_with(from: &str, to: &str) -> String {
    assert!(
        EXPERIMENT.contains(from),
        "{from:?} is not in the experiment"
    );
    with(&[&EXPERIMENT.replacen(from, to, 1)])
}

// ----------------------------------------------------------------------------------------------
// Valid configs

#[test]
fn base_snippets_are_valid() {
    let config = load_str(&with(&[ROLLOUT, EXPERIMENT]), Format::Toml, "ok.toml").expect("valid");
    assert_eq!(config.models.len(), 2);
    assert_eq!(config.rollouts[0].stages.len(), 3);
    assert_eq!(config.experiments[0].traffic, 50.0);
}

#[test]
fn full_example_loads_with_its_values() {
    let c = load_file(&configs_dir().join("full.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.server.listen, "127.0.0.1:8080");
    assert_eq!(
        c.server.data_dir.as_deref(),
        Some(Path::new("./rampart-data"))
    );
    assert_eq!(c.server.tick, Duration::from_secs(5), "default tick");

    let m = &c.models[0];
    assert_eq!(m.name, "checkout-recs");
    assert_eq!(m.unit, UnitKind::User);
    assert_eq!(m.baseline(), "v1");
    let names: Vec<&str> = m.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["v1", "v2"]);
    assert_eq!(
        m.variants[1].endpoint.as_deref(),
        Some("http://127.0.0.1:9002/predict")
    );

    let kinds: Vec<(&str, MetricKind)> = c
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("conversion", MetricKind::Binary),
            ("ctr", MetricKind::Ratio),
            ("error_rate", MetricKind::Ratio),
            ("latency", MetricKind::Latency)
        ]
    );
    assert_eq!(
        c.metrics[0].window,
        Some(Duration::from_millis(7 * 86_400_000))
    );
    assert_eq!(c.metrics[1].numerator.as_deref(), Some("click"));
    assert_eq!(c.metrics[1].denominator.as_deref(), Some("impression"));

    assert_eq!(c.holdouts[0].name, "global");
    assert_eq!(c.holdouts[0].percent, 2.0);

    let r = &c.rollouts[0];
    assert_eq!((r.baseline.as_str(), r.candidate.as_str()), ("v1", "v2"));
    assert_eq!(r.control, Control::Concurrent);
    assert_eq!(r.on_fail, OnFail::Rollback);
    assert!(r.autostart);
    let traffic: Vec<f64> = r.stages.iter().map(|s| s.traffic).collect();
    assert_eq!(traffic, [1.0, 5.0, 20.0, 50.0, 100.0]);
    assert_eq!(r.stages[0].min_units, Some(1000));
    assert_eq!(
        r.stages[0].min_duration,
        Some(Duration::from_millis(3_600_000))
    );
    assert_eq!(r.stages[1].approval, Approval::Manual);
    assert_eq!(r.stages[4].min_duration, None);
    assert_eq!(r.gates[0].max, Some(0.01));
    assert_eq!(r.gates[1].quantile, Some(0.99));
    assert_eq!(r.gates[1].max, Some(250.0));
    assert_eq!(r.gates[2].compare, Some(Compare::Control));
    assert_eq!(r.gates[2].max_worsening, Some(Worsening::Relative(2.0)));
    assert_eq!(r.gates[2].alpha, Some(0.05));

    let e = &c.experiments[0];
    assert_eq!(e.design, Design::Split);
    assert_eq!(e.variants, ["v1", "v2"]);
    assert_eq!(e.traffic, 50.0);
    assert_eq!(e.layer.as_deref(), Some("recs"));
    assert_eq!(e.metric_names(), ["conversion", "ctr", "error_rate"]);
    assert_eq!(e.stopping.rule, StoppingRule::Sequential);
    assert_eq!(e.stopping.alpha, 0.05);
    assert_eq!(e.stopping.power, 0.8, "default power");
    assert_eq!(
        e.stopping.max_duration,
        Some(Duration::from_millis(14 * 86_400_000))
    );
}

#[test]
fn full_example_round_trips_through_serialization() {
    let c = load_file(&configs_dir().join("full.toml")).unwrap_or_else(|e| panic!("{e}"));
    // JSON is valid YAML, so the serialized config goes back through the YAML loader.
    let text = serde_json::to_string_pretty(&c).expect("serializes");
    let again = load_str(&text, Format::Yaml, "round-trip.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, c);
}

#[test]
fn yaml_equivalent_loads_to_an_equal_config() {
    let toml = load_file(&configs_dir().join("full.toml")).unwrap_or_else(|e| panic!("{e}"));
    let yaml = load_file(&configs_dir().join("full.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(yaml, toml);
}

#[test]
fn quickstart_toml_and_yaml_are_equal() {
    let toml = load_file(&examples_dir().join("quickstart.toml")).unwrap_or_else(|e| panic!("{e}"));
    let yaml = load_file(&examples_dir().join("quickstart.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(yaml, toml);
    assert_eq!(toml.models.len(), 2);
    assert_eq!(toml.models[0].name, "checkout-recs");
    assert_eq!(
        toml.server.data_dir.as_deref(),
        Some(Path::new("./rampart-data"))
    );
}

#[test]
fn every_example_validates() {
    // Configs sit at the top of examples/; inputs of other commands (examples/plan/) in folders.
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("examples/ exists") {
        let path = entry.expect("readable").path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "toml" | "yaml" | "yml") {
            match check_file(&path) {
                Err(e) => panic!("{} does not validate:\n{e}", path.display()),
                Ok(loaded) => assert!(
                    loaded.warnings.is_empty(),
                    "{} has warnings:\n{:?}",
                    path.display(),
                    loaded.warnings
                ),
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "expected the quickstart in TOML and YAML, found {checked} config files"
    );
}

/// The fenced blocks of `lang` in docs/config.md.
fn doc_blocks(lang: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md");
    let doc = std::fs::read_to_string(path).expect("docs/config.md exists");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match current.as_mut() {
            Some(block) if line.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None if line == format!("```{lang}") => current = Some(String::new()),
            None => {}
        }
    }
    blocks
}

#[test]
fn documented_examples_load_and_agree() {
    let full = load_file(&configs_dir().join("full.toml")).unwrap_or_else(|e| panic!("{e}"));
    // Every example in the docs is a valid config, and the full example in each format is the
    // reference config.
    for (lang, format) in [("toml", Format::Toml), ("yaml", Format::Yaml)] {
        let configs: Vec<_> = doc_blocks(lang)
            .iter()
            .map(|b| load_str(b, format, "docs").unwrap_or_else(|e| panic!("{lang} example: {e}")))
            .collect();
        assert_eq!(
            configs.iter().filter(|c| **c == full).count(),
            1,
            "one full {lang} example"
        );
    }
}

#[test]
fn integers_are_accepted_for_numbers() {
    let c = load_str(
        &with(&["\n[[holdouts]]\nname = \"h\"\npercent = 3\n"]),
        Format::Toml,
        "x",
    )
    .unwrap();
    assert_eq!(c.holdouts[0].percent, 3.0);
}

// ----------------------------------------------------------------------------------------------
// Files that cannot be read or parsed

#[test]
fn missing_file_is_reported() {
    let path = configs_dir().join("no-such-file.toml");
    let errors = load_file(&path).unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, path.display().to_string());
    assert!(
        errors[0].message.contains("cannot read the file"),
        "{}",
        errors[0]
    );
}

#[test]
fn toml_syntax_error_names_its_line() {
    let text = with(&["\n[[holdouts]]\nname = \"h\"\npercent = = 2\n"]);
    let errors = errors_of(&text, Format::Toml);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, Some(line_of(&text, "percent = = 2")));
    assert!(
        errors[0].message.contains("not valid TOML"),
        "{}",
        errors[0]
    );
}

#[test]
fn yaml_syntax_error_names_its_line() {
    let text = "models:\n  - name: m\n    variants: [a, b\nmetrics: []\n";
    let errors = errors_of(text, Format::Yaml);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].line.is_some_and(|l| (3..=4).contains(&l)),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].message.contains("not valid YAML"),
        "{}",
        errors[0]
    );
}

// ----------------------------------------------------------------------------------------------
// Structure: unknown keys, types, enum values, durations

#[test]
fn unknown_top_level_key() {
    // Top-level keys come before the first table header in TOML.
    let text = format!("colour = \"red\"\n{BASE}");
    refused(
        &text,
        "colour",
        "colour",
        "valid keys here: server, models, metrics, holdouts, rollouts, experiments, segments",
    );
}

#[test]
fn misspelt_key_gets_a_suggestion_and_the_valid_keys() {
    let text = rollout_with(
        "{ traffic = 50, min_duration = \"24h\" }",
        "{ traffic = 50, min_duraton = \"24h\" }",
    );
    refused(
        &text,
        "rollouts[0].stages[1].min_duraton",
        "min_duraton",
        "did you mean `min_duration`?",
    );
    let e = &errors_of(&text, Format::Toml)[0];
    assert!(
        e.message.contains("valid keys here: traffic, min_duration, min_units, max_duration, on_timeout, approval, experiment"),
        "{e}"
    );
}

#[test]
fn missing_required_key() {
    let text = with(&["\n[[holdouts]]\nname = \"h\"\n"]);
    refused(
        &text,
        "holdouts[0].percent",
        "[[holdouts]]",
        "missing required key `percent`",
    );
}

#[test]
fn wrong_type() {
    let text = with(&["\n[[holdouts]]\nname = \"h\"\npercent = \"2%\"\n"]);
    refused(
        &text,
        "holdouts[0].percent",
        "percent =",
        "expected a number, found a string (\"2%\")",
    );
}

#[test]
fn negative_count() {
    let text = rollout_with(
        "{ traffic = 1, min_duration = \"1h\" }",
        "{ traffic = 1, min_units = -5 }",
    );
    refused(
        &text,
        "rollouts[0].stages[0].min_units",
        "min_units",
        "expected a whole number, 0 or more",
    );
}

#[test]
fn unknown_enum_value_lists_the_valid_ones() {
    let text = rollout_with(
        "candidate = \"v2\"\n",
        "candidate = \"v2\"\ncontrol = \"sometimes\"\n",
    );
    refused(
        &text,
        "rollouts[0].control",
        "sometimes",
        "unknown value \"sometimes\"; valid values: \"concurrent\", \"none\"",
    );
}

#[test]
fn unknown_design() {
    let text = experiment_with("traffic = 50", "design = \"interleave\"\ntraffic = 50");
    refused(
        &text,
        "experiments[0].design",
        "interleave",
        "\"team-draft\", \"balanced\"",
    );
}

#[test]
fn bad_duration() {
    let text = rollout_with("min_duration = \"24h\"", "min_duration = \"1 day\"");
    refused(
        &text,
        "rollouts[0].stages[1].min_duration",
        "1 day",
        "invalid duration \"1 day\"",
    );
}

#[test]
fn non_finite_number() {
    let text = rollout_with("max_worsening = \"2%\"", "max_worsening = nan");
    refused(
        &text,
        "rollouts[0].gates[0].max_worsening",
        "max_worsening = nan",
        "expected a percentage of the control's value such as \"5%\", or a number in the metric's own units such as 0.002, found NaN",
    );
}

#[test]
fn date_is_not_a_duration() {
    let text = with(&["\n[server]\ntick = 2024-01-01\n"]);
    refused(&text, "server.tick", "tick", "found a date-time");
}

#[test]
fn structural_errors_are_all_reported() {
    let text = with(&[
        "\n[server]\nlisten = \"127.0.0.1:8080\"\nport = 8080\ntick = \"soon\"\n",
        &ROLLOUT.replacen(
            "candidate = \"v2\"\n",
            "candidate = \"v2\"\non_fail = \"explode\"\nowner = \"me\"\n",
            1,
        ),
        &EXPERIMENT.replacen(
            "layer = \"recs\"",
            "layer = \"recs\"\nstoping = { rule = \"fixed\" }",
            1,
        ),
    ]);
    let errors = errors_of(&text, Format::Toml);
    let got: Vec<(&str, Option<usize>)> =
        errors.iter().map(|e| (e.field.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("server.port", Some(line_of(&text, "port = 8080"))),
            ("server.tick", Some(line_of(&text, "tick = \"soon\""))),
            ("rollouts[0].on_fail", Some(line_of(&text, "explode"))),
            ("rollouts[0].owner", Some(line_of(&text, "owner"))),
            ("experiments[0].stoping", Some(line_of(&text, "stoping"))),
        ]
    );
    assert!(
        errors[4].message.contains("did you mean `stopping`?"),
        "{}",
        errors[4]
    );
}

// ----------------------------------------------------------------------------------------------
// Names

#[test]
fn duplicate_names_of_every_kind() {
    // (snippet, field, marker, message) with the duplicate on the marked line.
    let cases: [(String, &str, &str, &str); 6] = [
        (
            with(&["\n[[models]]\nname = \"checkout-recs\" # again\nvariants = [{ name = \"x\" }]\n"]),
            "models[2].name",
            "# again",
            "duplicate model name \"checkout-recs\" (already used at models[0])",
        ),
        (
            BASE.replacen("{ name = \"v3\" },", "{ name = \"v1\" }, # again", 1),
            "models[0].variants[2].name",
            "# again",
            "duplicate variant name \"v1\" (already used at models[0].variants[0])",
        ),
        (
            with(&["\n[[metrics]]\nname = \"ctr\" # again\nkind = \"count\"\nevent = \"click\"\n"]),
            "metrics[3].name",
            "# again",
            "duplicate metric name \"ctr\" (already used at metrics[1])",
        ),
        (
            with(&["\n[[holdouts]]\nname = \"h\"\npercent = 1\n\n[[holdouts]]\nname = \"h\" # again\npercent = 2\n"]),
            "holdouts[1].name",
            "# again",
            "duplicate holdout name \"h\"",
        ),
        (
            with(&[ROLLOUT, &ROLLOUT.replacen("name = \"recs-v2\"", "name = \"recs-v2\" # again", 1).replace("\nstages", "\nautostart = false\nstages")]),
            "rollouts[1].name",
            "# again",
            "duplicate rollout name \"recs-v2\"",
        ),
        (
            with(&[EXPERIMENT, &EXPERIMENT.replacen("name = \"bakeoff\"", "name = \"bakeoff\" # again", 1).replace("layer = \"recs\"", "layer = \"other\"")]),
            "experiments[1].name",
            "# again",
            "duplicate experiment name \"bakeoff\" (already used at experiments[0])",
        ),
    ];
    for (text, field, marker, message) in &cases {
        refused(text, field, marker, message);
    }
}

#[test]
fn empty_name() {
    let text = with(&["\n[[holdouts]]\nname = \"\"\npercent = 1\n"]);
    refused(
        &text,
        "holdouts[0].name",
        "name = \"\"",
        "a holdout name must not be empty",
    );
}

#[test]
fn name_with_bad_characters() {
    let text = experiment_with("name = \"bakeoff\"", "name = \"bake off!\"");
    refused(
        &text,
        "experiments[0].name",
        "bake off!",
        "may only contain letters, digits, '_', '.' and '-'",
    );
}

#[test]
fn renamed_from_own_name() {
    let text = rollout_with(
        "candidate = \"v2\"\n",
        "candidate = \"v2\"\nrenamed_from = \"recs-v2\"\n",
    );
    refused(
        &text,
        "rollouts[0].renamed_from",
        "renamed_from",
        "not its own name \"recs-v2\"",
    );
}

#[test]
fn renamed_from_a_name_still_in_use() {
    let text = with(&["\n[[holdouts]]\nname = \"a\"\npercent = 1\n\n[[holdouts]]\nname = \"b\"\npercent = 1\nrenamed_from = \"a\"\n"]);
    refused(
        &text,
        "holdouts[1].renamed_from",
        "renamed_from",
        "is still the name of holdouts[0]",
    );
}

// ----------------------------------------------------------------------------------------------
// Models and variants

#[test]
fn model_without_variants() {
    let text = with(&["\n[[models]]\nname = \"empty\"\nvariants = []\n"]);
    refused(
        &text,
        "models[2].variants",
        "variants = []",
        "a model needs at least one variant",
    );
}

#[test]
fn model_baseline_unknown() {
    let text = BASE.replacen(
        "name = \"search\"\n",
        "name = \"search\"\nbaseline = \"c\"\n",
        1,
    );
    refused(
        &text,
        "models[1].baseline",
        "baseline = \"c\"",
        "unknown variant \"c\" of model \"search\"; defined variants: a, b",
    );
}

#[test]
fn unit_forced_to_two_variants() {
    let text = BASE.replacen(
        "{ name = \"v1\" },\n  { name = \"v2\" },",
        "{ name = \"v1\", force_units = [\"qa-1\"] },\n  { name = \"v2\", force_units = [\"qa-2\", \"qa-1\"] },",
        1,
    );
    refused(
        &text,
        "models[0].variants[1].force_units[1]",
        "\"qa-2\", \"qa-1\"",
        "also forced to variant \"v1\"",
    );
}

#[test]
fn endpoint_must_be_http() {
    let text = BASE.replacen(
        "{ name = \"a\" }",
        "{ name = \"a\", endpoint = \"127.0.0.1:9000\" }",
        1,
    );
    refused(
        &text,
        "models[1].variants[0].endpoint",
        "127.0.0.1:9000",
        "expected an http:// or https:// URL",
    );
}

#[test]
fn proxy_settings_are_read_and_checked() {
    let ok = "[[models]]\nname = \"m\"\nvariants = [\n  { name = \"a\", endpoint = \"http://h:1\" },\n  { name = \"b\", endpoint = \"http://h:2\", timeout = \"250ms\" },\n]\n[models.proxy]\nunit_field = \"user.id\"\nshadow = \"b\"\ncompare_output = true\n";
    let c = load_str(ok, Format::Toml, "ok.toml").unwrap_or_else(|e| panic!("{e}"));
    let m = &c.models[0];
    assert_eq!(m.proxy.unit_field.as_deref(), Some("user.id"));
    assert_eq!(m.proxy.shadow.as_deref(), Some("b"));
    assert_eq!(m.proxy.timeout.as_millis(), 5_000, "the default");
    assert_eq!(m.proxy.shadow_limit, 64, "the default");
    assert_eq!(m.variants[1].timeout.map(|t| t.as_millis()), Some(250));

    let bad = "[[models]]\nname = \"m\"\nunit = \"request\"\nvariants = [{ name = \"a\", endpoint = \"http://h:1\" }, { name = \"b\", timeout = \"0ms\" }]\n[models.proxy]\nunit_field = \"user_id\"\nshadow = \"b\"\nshadow_limit = 0\n";
    let errors = errors_of(bad, Format::Toml);
    let has = |field: &str, words: &str| {
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.message.contains(words)),
            "{field}: {words} in {errors:?}"
        )
    };
    has("models[0].variants[1].timeout", "between 1ms and 10m");
    has("models[0].proxy.unit_field", "randomizes by request");
    has("models[0].proxy.shadow_limit", "at least 1");
    has("models[0].proxy.shadow", "\"b\" has no endpoint");

    let same = ok.replace("shadow = \"b\"", "shadow = \"a\"");
    let errors = errors_of(&same, Format::Toml);
    assert!(
        errors[0].message.contains("must differ from the baseline"),
        "{errors:?}"
    );
    let unknown = ok.replace("shadow = \"b\"", "shadow = \"c\"");
    let errors = errors_of(&unknown, Format::Toml);
    assert_eq!(errors[0].field, "models[0].proxy.shadow", "{errors:?}");
    assert!(
        errors[0].message.contains("unknown variant \"c\""),
        "{errors:?}"
    );
    let dotted = ok.replace("user.id", "user..id");
    assert!(errors_of(&dotted, Format::Toml)[0]
        .message
        .contains("dotted path"));
}

// ----------------------------------------------------------------------------------------------
// Metrics

#[test]
fn ratio_without_numerator() {
    let text = BASE.replacen("numerator = \"click\"\n", "", 1);
    refused_at(
        &text,
        Format::Toml,
        "metrics[1].numerator",
        line_of(&text, "name = \"ctr\"") - 1,
        "a ratio metric needs a numerator event type",
    );
}

#[test]
fn ratio_without_denominator() {
    let text = BASE.replacen("denominator = \"impression\"\n", "", 1);
    refused_at(
        &text,
        Format::Toml,
        "metrics[1].denominator",
        line_of(&text, "name = \"ctr\"") - 1,
        "needs a denominator",
    );
}

#[test]
fn event_on_a_ratio_metric() {
    let text = BASE.replacen(
        "numerator = \"click\"\n",
        "numerator = \"click\"\nevent = \"view\"\n",
        1,
    );
    refused(
        &text,
        "metrics[1].event",
        "event = \"view\"",
        "a ratio metric reads numerator and denominator events, not event",
    );
}

#[test]
fn binary_metric_without_event() {
    let text = BASE.replacen("event = \"purchase\"\n", "", 1);
    refused_at(
        &text,
        Format::Toml,
        "metrics[0].event",
        line_of(&text, "name = \"conversion\"") - 1,
        "a binary metric needs an event type",
    );
}

#[test]
fn latency_metric_with_numerator() {
    let text = BASE.replacen(
        "event = \"response\"\n",
        "event = \"response\"\nnumerator = \"x\"\n",
        1,
    );
    refused(
        &text,
        "metrics[2].numerator",
        "numerator = \"x\"",
        "only ratio metrics take numerator",
    );
}

#[test]
fn zero_window() {
    let text = BASE.replacen(
        "event = \"purchase\"\n",
        "event = \"purchase\"\nwindow = \"0d\"\n",
        1,
    );
    refused(
        &text,
        "metrics[0].window",
        "window",
        "must be longer than 0",
    );
}

#[test]
fn maturity_is_read_and_checked() {
    let text = BASE.replacen(
        "event = \"purchase\"\n",
        "event = \"purchase\"\nmaturity = \"2h\"\n",
        1,
    );
    let config = load_str(&text, Format::Toml, "ok.toml").expect("valid");
    assert_eq!(config.metrics[0].maturity, Some(Duration::from_secs(7_200)));
    assert_eq!(config.metrics[1].maturity, None);

    let zero = BASE.replacen(
        "event = \"purchase\"\n",
        "event = \"purchase\"\nmaturity = \"0s\"\n",
        1,
    );
    refused(
        &zero,
        "metrics[0].maturity",
        "maturity",
        "must be longer than 0",
    );
    let latency = BASE.replacen(
        "event = \"response\"\n",
        "event = \"response\"\nmaturity = \"1h\"\n",
        1,
    );
    refused(
        &latency,
        "metrics[2].maturity",
        "maturity",
        "a latency metric is counted per event",
    );
    let prometheus = with(&[
        "\n[prometheus]\nurl = \"http://127.0.0.1:9090\"\n",
        "\n[[metrics]]\nname = \"p99\"\nkind = \"prometheus\"\ngoal = \"decrease\"\nquery = \"up\"\nmaturity = \"1h\"\n",
    ]);
    refused(
        &prometheus,
        "metrics[3].maturity",
        "maturity",
        "a prometheus metric has no units",
    );
    let negative = BASE.replacen(
        "event = \"purchase\"\n",
        "event = \"purchase\"\nmaturity = \"-1h\"\n",
        1,
    );
    assert_eq!(
        errors_of(&negative, Format::Toml)[0].field,
        "metrics[0].maturity"
    );
}

// ----------------------------------------------------------------------------------------------
// Holdouts and traffic shares

#[test]
fn holdout_percent_above_100() {
    let text = with(&["\n[[holdouts]]\nname = \"h\"\npercent = 101\n"]);
    refused(
        &text,
        "holdouts[0].percent",
        "percent = 101",
        "between 0 and 100, found 101",
    );
}

#[test]
fn holdout_of_unknown_model() {
    let text =
        with(&["\n[[holdouts]]\nname = \"h\"\npercent = 1\nmodels = [\"search\", \"pricing\"]\n"]);
    refused(
        &text,
        "holdouts[0].models[1]",
        "pricing",
        "unknown model \"pricing\"; defined models: checkout-recs, search",
    );
}

#[test]
fn traffic_finer_than_buckets() {
    let text = experiment_with("traffic = 50", "traffic = 0.005");
    refused(
        &text,
        "experiments[0].traffic",
        "traffic = 0.005",
        "finer than the 0.01% steps",
    );
}

#[test]
fn experiment_traffic_negative() {
    let text = experiment_with("traffic = 50", "traffic = -5");
    refused(
        &text,
        "experiments[0].traffic",
        "traffic = -5",
        "between 0 and 100, found -5",
    );
}

#[test]
fn layer_over_100_percent() {
    let second = EXPERIMENT
        .replacen("name = \"bakeoff\"", "name = \"second\"", 1)
        .replacen("traffic = 50", "traffic = 60", 1);
    let text = with(&[
        EXPERIMENT,
        &second.replacen("layer = \"recs\"", "layer = \"recs\" # full", 1),
    ]);
    refused(
        &text,
        "experiments[1].layer",
        "# full",
        "layer \"recs\" needs 110% of traffic in total (bakeoff 50%, second 60%)",
    );
}

// ----------------------------------------------------------------------------------------------
// Rollouts and stages

#[test]
fn rollout_of_unknown_model() {
    let text = rollout_with("model = \"checkout-recs\"", "model = \"pricing\"");
    refused(
        &text,
        "rollouts[0].model",
        "pricing",
        "unknown model \"pricing\"",
    );
}

#[test]
fn rollout_candidate_unknown() {
    let text = rollout_with("candidate = \"v2\"", "candidate = \"v9\"");
    refused(
        &text,
        "rollouts[0].candidate",
        "v9",
        "unknown variant \"v9\" of model \"checkout-recs\"; defined variants: v1, v2, v3",
    );
}

#[test]
fn rollout_baseline_unknown() {
    let text = rollout_with("baseline = \"v1\"", "baseline = \"v0\"");
    refused(
        &text,
        "rollouts[0].baseline",
        "v0",
        "unknown variant \"v0\"",
    );
}

#[test]
fn rollout_baseline_equals_candidate() {
    let text = rollout_with("candidate = \"v2\"", "candidate = \"v1\" # same");
    refused(
        &text,
        "rollouts[0].candidate",
        "# same",
        "the candidate must differ from the baseline \"v1\"",
    );
}

#[test]
fn empty_stage_list() {
    let text = with(&[
        "\n[[rollouts]]\nname = \"r\"\nmodel = \"search\"\nbaseline = \"a\"\ncandidate = \"b\"\nstages = []\n",
    ]);
    refused(
        &text,
        "rollouts[0].stages",
        "stages = []",
        "a rollout needs at least one stage",
    );
}

#[test]
fn stage_traffic_above_100() {
    let text = rollout_with("{ traffic = 100 }", "{ traffic = 120 }");
    refused(
        &text,
        "rollouts[0].stages[2].traffic",
        "traffic = 120",
        "between 0 and 100, found 120",
    );
}

#[test]
fn stage_traffic_must_rise() {
    let text = rollout_with(
        "{ traffic = 50, min_duration = \"24h\" }",
        "{ traffic = 1, min_duration = \"24h\" }",
    );
    refused(
        &text,
        "rollouts[0].stages[1].traffic",
        "traffic = 1, min_duration = \"24h\"",
        "1 is not above the previous stage's 1",
    );
}

#[test]
fn stage_min_units_zero() {
    let text = rollout_with(
        "{ traffic = 1, min_duration = \"1h\" }",
        "{ traffic = 1, min_units = 0 }",
    );
    refused(
        &text,
        "rollouts[0].stages[0].min_units",
        "min_units = 0",
        "must be at least 1",
    );
}

#[test]
fn stage_max_duration_below_min_duration() {
    let text = rollout_with(
        "{ traffic = 50, min_duration = \"24h\" }",
        "{ traffic = 50, min_duration = \"24h\", max_duration = \"1h\" }",
    );
    refused(
        &text,
        "rollouts[0].stages[1].max_duration",
        "max_duration",
        "max_duration 1h is shorter than min_duration 1d",
    );
}

#[test]
fn stage_experiment_unknown() {
    let text = rollout_with(
        "{ traffic = 1, min_duration = \"1h\" }",
        "{ traffic = 1, experiment = \"nope\" }",
    );
    refused(
        &text,
        "rollouts[0].stages[0].experiment",
        "nope",
        "unknown experiment \"nope\"; no experiments are defined",
    );
}

#[test]
fn stage_experiment_of_another_model() {
    let other = "\n[[experiments]]\nname = \"s\"\nmodel = \"search\"\nvariants = [\"a\", \"b\"]\nprimary = \"ctr\"\n";
    let text = with(&[
        &ROLLOUT.replacen(
            "{ traffic = 1, min_duration = \"1h\" }",
            "{ traffic = 1, experiment = \"s\" }",
            1,
        ),
        other,
    ]);
    refused(
        &text,
        "rollouts[0].stages[0].experiment",
        "experiment = \"s\"",
        "is on model \"search\"",
    );
}

#[test]
fn two_autostarting_rollouts_of_one_model() {
    let second = ROLLOUT
        .replacen("name = \"recs-v2\"", "name = \"recs-v3\" # second", 1)
        .replacen("candidate = \"v2\"", "candidate = \"v3\"", 1);
    let text = with(&[ROLLOUT, &second]);
    refused_at(
        &text,
        Format::Toml,
        "rollouts[1].autostart",
        line_of(&text, "# second") - 1,
        "already has an autostarting rollout (\"recs-v2\", rollouts[0])",
    );
    // With autostart = false on one of them, both are fine.
    let fixed = with(&[
        ROLLOUT,
        &second.replacen("\nstages", "\nautostart = false\nstages", 1),
    ]);
    assert!(load_str(&fixed, Format::Toml, "x").is_ok());
}

#[test]
fn rollout_segment_not_declared() {
    let text = rollout_with(
        "candidate = \"v2\"\n",
        "candidate = \"v2\"\nsegments = [\"country\"]\n",
    );
    refused(
        &text,
        "rollouts[0].segments[0]",
        "country",
        "not in the top-level segments list",
    );
}

// ----------------------------------------------------------------------------------------------
// Gates

#[test]
fn gate_unknown_metric() {
    let text = rollout_with("metric = \"conversion\"", "metric = \"revenue\"");
    refused(
        &text,
        "rollouts[0].gates[0].metric",
        "revenue",
        "unknown metric \"revenue\"; defined metrics: conversion, ctr, latency",
    );
}

#[test]
fn gate_quantile_on_non_latency_metric() {
    let text = rollout_with(
        "compare = \"control\", max_worsening = \"2%\"",
        "quantile = 0.9, max = 0.5",
    );
    refused(
        &text,
        "rollouts[0].gates[0].quantile",
        "quantile",
        "quantile applies only to latency metrics; \"conversion\" is a binary metric",
    );
}

#[test]
fn gate_quantile_outside_unit_interval() {
    let text = rollout_with(
        "metric = \"conversion\", compare = \"control\", max_worsening = \"2%\"",
        "metric = \"latency\", quantile = 99, max = 250",
    );
    refused(
        &text,
        "rollouts[0].gates[0].quantile",
        "quantile = 99",
        "strictly between 0 and 1 (e.g. 0.99), found 99",
    );
}

#[test]
fn gate_without_limit_or_comparison() {
    let text = rollout_with(
        "{ metric = \"conversion\", compare = \"control\", max_worsening = \"2%\" }",
        "{ metric = \"conversion\" }",
    );
    refused(
        &text,
        "rollouts[0].gates[0]",
        "{ metric = \"conversion\" }",
        "a gate needs max, min or compare = \"control\"",
    );
}

#[test]
fn gate_compare_without_control_group() {
    let text = rollout_with(
        "candidate = \"v2\"\n",
        "candidate = \"v2\"\ncontrol = \"none\"\n",
    );
    refused(
        &text,
        "rollouts[0].gates[0].compare",
        "compare = \"control\"",
        "but the rollout has control = \"none\"",
    );
}

#[test]
fn gate_max_worsening_without_compare() {
    let text = rollout_with(
        "compare = \"control\", max_worsening = \"2%\"",
        "min = 0.01, max_worsening = \"2%\"",
    );
    refused(
        &text,
        "rollouts[0].gates[0].max_worsening",
        "max_worsening",
        "max_worsening applies only to comparisons: add compare = \"control\"",
    );
}

#[test]
fn gate_alpha_outside_unit_interval() {
    let text = rollout_with(
        "max_worsening = \"2%\"",
        "max_worsening = \"2%\", alpha = 5",
    );
    refused(
        &text,
        "rollouts[0].gates[0].alpha",
        "alpha = 5",
        "strictly between 0 and 1 (e.g. 0.05), found 5",
    );
}

#[test]
fn gate_min_above_max() {
    let text = rollout_with(
        "compare = \"control\", max_worsening = \"2%\"",
        "min = 0.5, max = 0.1",
    );
    refused(
        &text,
        "rollouts[0].gates[0].min",
        "min = 0.5",
        "min 0.5 is above max 0.1",
    );
}

// ----------------------------------------------------------------------------------------------
// Experiments

#[test]
fn experiment_with_one_variant() {
    let text = experiment_with("variants = [\"v1\", \"v2\"]", "variants = [\"v1\"]");
    refused(
        &text,
        "experiments[0].variants",
        "variants = [\"v1\"]",
        "at least 2 variants, found 1",
    );
}

#[test]
fn experiment_variant_unknown() {
    let text = experiment_with("variants = [\"v1\", \"v2\"]", "variants = [\"v1\", \"v7\"]");
    refused(
        &text,
        "experiments[0].variants[1]",
        "v7",
        "unknown variant \"v7\" of model \"checkout-recs\"",
    );
}

#[test]
fn experiment_variant_listed_twice() {
    let text = experiment_with(
        "variants = [\"v1\", \"v2\"]",
        "variants = [\"v1\", \"v2\", \"v1\"]",
    );
    refused(
        &text,
        "experiments[0].variants[2]",
        "variants = [\"",
        "variant \"v1\" is already listed at variants[0]",
    );
}

#[test]
fn experiment_of_unknown_model() {
    let text = experiment_with("model = \"checkout-recs\"", "model = \"pricing\"");
    refused(
        &text,
        "experiments[0].model",
        "pricing",
        "unknown model \"pricing\"",
    );
}

#[test]
fn experiment_unknown_primary_secondary_and_guardrail() {
    let text = experiment_with("primary = \"conversion\"", "primary = \"revenue\"");
    refused(
        &text,
        "experiments[0].primary",
        "revenue",
        "unknown metric \"revenue\"",
    );
    let text = experiment_with(
        "primary = \"conversion\"",
        "primary = \"conversion\"\nsecondary = [\"ctr\", \"aov\"]",
    );
    refused(
        &text,
        "experiments[0].secondary[1]",
        "aov",
        "unknown metric \"aov\"",
    );
    let text = experiment_with(
        "primary = \"conversion\"",
        "primary = \"conversion\"\nguardrails = [\"errors\"]",
    );
    refused(
        &text,
        "experiments[0].guardrails[0]",
        "errors",
        "unknown metric \"errors\"",
    );
}

#[test]
fn weights_length_differs_from_variants() {
    let text = experiment_with("traffic = 50", "traffic = 50\nweights = [1, 2, 3]");
    refused(
        &text,
        "experiments[0].weights",
        "weights",
        "3 weights for 2 variants",
    );
}

#[test]
fn weights_must_be_positive() {
    let text = experiment_with("traffic = 50", "traffic = 50\nweights = [1, 0]");
    refused(
        &text,
        "experiments[0].weights[1]",
        "weights",
        "weights must be positive numbers, found 0",
    );
}

#[test]
fn weights_only_for_split() {
    let text = experiment_with(
        "traffic = 50",
        "traffic = 50\ndesign = \"team-draft\"\nweights = [1, 1]",
    );
    refused(
        &text,
        "experiments[0].weights",
        "weights",
        "weights apply only to design \"split\", not \"team-draft\"",
    );
}

#[test]
fn pairwise_interleaving_with_three_variants() {
    for design in ["team-draft", "balanced", "probabilistic"] {
        let text = experiment_with(
            "variants = [\"v1\", \"v2\"]",
            &format!("design = \"{design}\"\nvariants = [\"v1\", \"v2\", \"v3\"]"),
        );
        refused(
            &text,
            "experiments[0].variants",
            "variants = [\"",
            &format!("design \"{design}\" interleaves exactly 2 variants, found 3"),
        );
    }
}

#[test]
fn multileave_with_two_variants() {
    let text = experiment_with(
        "variants = [\"v1\", \"v2\"]",
        "design = \"team-draft-multileave\"\nvariants = [\"v1\", \"v2\"]",
    );
    refused(
        &text,
        "experiments[0].variants",
        "variants = [\"",
        "needs at least 3 variants, found 2",
    );
}

#[test]
fn stopping_alpha_and_power_outside_unit_interval() {
    let text = experiment_with(
        "layer = \"recs\"",
        "layer = \"recs\"\nstopping = { alpha = 1.5 }",
    );
    refused(
        &text,
        "experiments[0].stopping.alpha",
        "stopping",
        "strictly between 0 and 1 (e.g. 0.05), found 1.5",
    );
    let text = experiment_with(
        "layer = \"recs\"",
        "layer = \"recs\"\nstopping = { power = 0 }",
    );
    refused(
        &text,
        "experiments[0].stopping.power",
        "stopping",
        "strictly between 0 and 1 (e.g. 0.8), found 0",
    );
}

#[test]
fn fixed_stopping_without_horizon() {
    let text = experiment_with(
        "layer = \"recs\"",
        "layer = \"recs\"\nstopping = { rule = \"fixed\" }",
    );
    refused(
        &text,
        "experiments[0].stopping",
        "stopping",
        "needs mde (to size the sample) or max_duration",
    );
}

#[test]
fn on_winner_unknown_rollout() {
    let text = experiment_with(
        "layer = \"recs\"",
        "layer = \"recs\"\non_winner = { rollout = \"later\" }",
    );
    refused(
        &text,
        "experiments[0].on_winner.rollout",
        "later",
        "unknown rollout \"later\"; no rollouts are defined",
    );
}

#[test]
fn on_winner_rollout_of_another_model() {
    let rollout = "\n[[rollouts]]\nname = \"search-b\"\nmodel = \"search\"\nbaseline = \"a\"\ncandidate = \"b\"\nstages = [{ traffic = 100 }]\n";
    let experiment = EXPERIMENT.replacen(
        "layer = \"recs\"",
        "layer = \"recs\"\non_winner = { rollout = \"search-b\" }",
        1,
    );
    let text = with(&[rollout, &experiment]);
    refused(&text, "experiments[0].on_winner.rollout", "on_winner", "rollout \"search-b\" is on model \"search\", but this experiment is on model \"checkout-recs\"");
}

// ----------------------------------------------------------------------------------------------
// Server

#[test]
fn tick_below_100ms() {
    let text = with(&["\n[server]\ntick = \"50ms\"\n"]);
    refused(
        &text,
        "server.tick",
        "tick",
        "must be at least 100ms, found 50ms",
    );
}

#[test]
fn listen_not_an_address() {
    let text = with(&["\n[server]\nlisten = \"localhost\"\n"]);
    refused(
        &text,
        "server.listen",
        "listen",
        "expected an IP address and port such as \"127.0.0.1:8080\"",
    );
}

// ----------------------------------------------------------------------------------------------
// Several problems at once, and YAML

#[test]
fn semantic_errors_are_all_reported_with_unknown_keys() {
    let text = with(&[
        "\n[server]\ntick = \"10ms\"\n",
        &ROLLOUT
            .replacen(
                "candidate = \"v2\"",
                "candidate = \"v9\"\nnotes = \"first try\"",
                1,
            )
            .replacen("{ traffic = 100 }", "{ traffic = 40 }", 1),
        &EXPERIMENT.replacen("primary = \"conversion\"", "primary = \"revenue\"", 1),
    ]);
    let errors = errors_of(&text, Format::Toml);
    let got: Vec<(&str, Option<usize>)> =
        errors.iter().map(|e| (e.field.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("server.tick", Some(line_of(&text, "10ms"))),
            ("rollouts[0].candidate", Some(line_of(&text, "v9"))),
            ("rollouts[0].notes", Some(line_of(&text, "notes"))),
            (
                "rollouts[0].stages[2].traffic",
                Some(line_of(&text, "traffic = 40"))
            ),
            ("experiments[0].primary", Some(line_of(&text, "revenue"))),
        ],
        "{errors:#?}"
    );
    let all = load_str(&text, Format::Toml, "big.toml").unwrap_err();
    assert_eq!(all.at("rollouts[0].notes").len(), 1);
    assert!(all.at("rollouts[0]").is_empty());
    let rendered = all.to_string();
    assert_eq!(rendered.lines().count(), 5);
    assert!(
        rendered.starts_with(&format!(
            "big.toml:{}: server.tick: must be at least 100ms",
            line_of(&text, "10ms")
        )),
        "{rendered}"
    );
}

#[test]
fn yaml_errors_have_lines() {
    let text = "models:\n  - name: m\n    variants:\n      - name: a\n      - name: b\n        colour: red\nrollouts:\n  - name: r\n    model: m\n    baseline: a\n    candidate: b\n    stages:\n      - traffic: 10\n      - traffic: 5\n";
    // Structure first: the unknown key is reported and the rest is still checked.
    let errors = errors_of(text, Format::Yaml);
    let got: Vec<(&str, Option<usize>)> =
        errors.iter().map(|e| (e.field.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            (
                "models[0].variants[1].colour",
                Some(line_of(text, "colour"))
            ),
            (
                "rollouts[0].stages[1].traffic",
                Some(line_of(text, "traffic: 5"))
            ),
        ]
    );
    assert!(
        errors[0]
            .message
            .contains("valid keys here: name, endpoint, force_units"),
        "{}",
        errors[0]
    );
}

#[test]
fn yaml_type_error_has_a_line() {
    let text = "holdouts:\n  - name: h\n    percent: lots\n";
    refused_in(
        text,
        Format::Yaml,
        "holdouts[0].percent",
        "lots",
        "expected a number, found a string (\"lots\")",
    );
}

#[test]
fn yaml_quoted_numbers_stay_strings() {
    let text = "holdouts:\n  - name: h\n    percent: \"5\"\n";
    refused_in(
        text,
        Format::Yaml,
        "holdouts[0].percent",
        "percent",
        "found a string (\"5\")",
    );
}

#[test]
fn webhooks_need_an_http_url_and_known_events() {
    let base = "[[models]]\nname = \"m\"\nvariants = [{ name = \"v1\" }]\n";
    let ok = format!("{base}\n[[webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\nevents = [\"rolled-back\", \"completed\"]\nformat = \"slack\"\n");
    let config = load_str(&ok, Format::Toml, "w.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.webhooks.len(), 1);
    assert!(config.webhooks[0].wants(rampart_core::rollout::Notification::Completed));
    assert!(!config.webhooks[0].wants(rampart_core::rollout::Notification::StageChanged));

    let bad_url = format!("{base}\n[[webhooks]]\nurl = \"ftp://x\"\n");
    let errs = load_str(&bad_url, Format::Toml, "w.toml").unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].field, "webhooks[0].url");
    assert_eq!(errs.0[0].line, Some(6));
    assert_eq!(
        errs.0[0].message,
        "the scheme \"ftp\" is not supported: expected an http:// or https:// URL with a host"
    );

    // The URL is a secret: it may come from a variable or a file, exactly one of the three.
    let from_env = format!(
        "{base}\n[[webhooks]]\nurl_env = \"SLACK_URL\"\n[[webhooks]]\nurl_file = \"slack.url\"\n"
    );
    let config = load_str(&from_env, Format::Toml, "w.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.webhooks[0].url_source(),
        Some(rampart_core::config::SecretSource::Env("SLACK_URL"))
    );
    assert_eq!(
        config.webhooks[1].url_source(),
        Some(rampart_core::config::SecretSource::File(
            std::path::Path::new("slack.url")
        ))
    );
    let two = format!("{base}\n[[webhooks]]\nurl = \"https://h/x\"\nurl_env = \"SLACK_URL\"\n");
    let errs = load_str(&two, Format::Toml, "w.toml").unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].field, "webhooks[0].url_env");
    assert_eq!(errs.0[0].line, Some(7));
    assert_eq!(
        errs.0[0].message,
        "give the URL in exactly one of url, url_env and url_file, not url and url_env"
    );
    let none = format!("{base}\n[[webhooks]]\nformat = \"slack\"\n");
    let errs = load_str(&none, Format::Toml, "w.toml").unwrap_err();
    assert_eq!(errs.0[0].field, "webhooks[0]");
    assert!(errs.0[0].message.contains("url_env"), "{errs}");
    let bad_names =
        format!("{base}\n[[webhooks]]\nurl_env = \"A=B\"\n[[webhooks]]\nurl_file = \"\"\n");
    let errs = load_str(&bad_names, Format::Toml, "w.toml").unwrap_err();
    let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["webhooks[0].url_env", "webhooks[1].url_file"],
        "{errs}"
    );
    // A refused URL is not quoted back: it may be a credential.
    let secret =
        format!("{base}\n[[webhooks]]\nurl = \"htps://hooks.slack.com/services/T0/B0/s3cr3t\"\n");
    let errs = load_str(&secret, Format::Toml, "w.toml").unwrap_err();
    assert!(!errs.to_string().contains("s3cr3t"), "{errs}");

    let bad_event = format!("{base}\n[[webhooks]]\nurl = \"http://x\"\nevents = [\"exploded\"]\n");
    let errs = load_str(&bad_event, Format::Toml, "w.toml").unwrap_err();
    assert_eq!(errs.0[0].field, "webhooks[0].events[0]");
    assert!(errs.0[0].message.contains("rolled-back"), "{errs}");
}

// ----------------------------------------------------------------------------------------------
// Prometheus metrics

const PROMETHEUS: &str = r#"
[prometheus]
url = "http://127.0.0.1:9090"
timeout = "2s"

[[metrics]]
name = "p99"
kind = "prometheus"
query = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{app="{{model}}",version="{{variant}}"}[2m])))'
goal = "decrease"
"#;

#[test]
fn a_prometheus_metric_with_a_gate_and_a_guardrail_limit_loads() {
    let gate = r#"{ metric = "p99", max = 0.25 },
  { metric = "p99", compare = "control", max_worsening = "10%" },
]"#;
    let mut text = with(&[PROMETHEUS, &ROLLOUT.replacen("]\n", "", 0)]);
    text = text.replacen(
        "{ metric = \"conversion\", compare = \"control\", max_worsening = \"2%\" },\n]",
        &format!("{{ metric = \"conversion\", compare = \"control\", max_worsening = \"2%\" }},\n  {gate}"),
        1,
    );
    text.push_str(
        &EXPERIMENT.replacen(
            "primary = \"conversion\"",
            "primary = \"conversion\"\nguardrails = [\"p99\"]\nlimits = [{ metric = \"p99\", max = 0.5 }]",
            1,
        ),
    );
    let c = load_str(&text, Format::Toml, "p.toml").unwrap_or_else(|e| panic!("{e}"));
    let p = c.prometheus.as_ref().expect("the section");
    assert_eq!(p.url, "http://127.0.0.1:9090");
    assert_eq!(p.timeout, Duration::from_secs(2));
    let m = c.metric("p99").unwrap();
    assert_eq!(m.kind, MetricKind::Prometheus);
    assert!(m.query.as_deref().unwrap().contains("{{variant}}"));
    assert_eq!(c.rollouts[0].gates.len(), 3);
    assert_eq!(c.experiments[0].limits[0].max, Some(0.5));
    // The default timeout is 5 s.
    let default = with(&[&PROMETHEUS.replace("timeout = \"2s\"\n", "")]);
    let c = load_str(&default, Format::Toml, "p.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.prometheus.unwrap().timeout, Duration::from_secs(5));
}

#[test]
fn an_unknown_placeholder_is_named_with_the_valid_ones() {
    let text = with(&[&PROMETHEUS.replace("{{variant}}", "{{version}}")]);
    refused(
        &text,
        "metrics[3].query",
        "query =",
        "unknown placeholder {{version}}; valid placeholders: {{model}}, {{variant}}, {{baseline}}, {{candidate}}, {{rollout}}, {{stage}}, {{experiment}}",
    );
}

#[test]
fn a_prometheus_metric_needs_the_prometheus_section() {
    let text = with(&[&PROMETHEUS.replace(
        "[prometheus]\nurl = \"http://127.0.0.1:9090\"\ntimeout = \"2s\"\n",
        "",
    )]);
    refused(
        &text,
        "metrics[3].kind",
        "kind = \"prometheus\"",
        "there is no [prometheus] section",
    );
}

#[test]
fn a_prometheus_metric_needs_a_query_and_a_goal_and_takes_no_events() {
    let text = with(&[&PROMETHEUS
        .replace("goal = \"decrease\"\n", "event = \"response\"\n")
        .replacen("query = ", "# query = ", 1)]);
    let errors = errors_of(&text, Format::Toml);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["metrics[3].query", "metrics[3].goal", "metrics[3].event"],
        "{errors:?}"
    );
    assert!(
        errors[0].message.contains("needs a PromQL query"),
        "{errors:?}"
    );
    assert!(errors[1]
        .message
        .contains("goal = \"increase\" or \"decrease\""));
    // And an event metric takes no query.
    refused(
        &with(&["\n[[metrics]]\nname = \"q\"\nkind = \"count\"\nevent = \"e\"\nquery = \"up\"\n"]),
        "metrics[3].query",
        "query = \"up\"",
        "only prometheus metrics take a query",
    );
}

#[test]
fn the_prometheus_section_is_checked() {
    let bad_url = with(&[&PROMETHEUS.replace("http://127.0.0.1:9090", "127.0.0.1:9090")]);
    refused(
        &bad_url,
        "prometheus.url",
        "url =",
        "http:// or https:// URL",
    );
    let zero = with(&[&PROMETHEUS.replace("\"2s\"", "\"0s\"")]);
    refused(&zero, "prometheus.timeout", "timeout =", "longer than 0");
    let both = with(&[&PROMETHEUS.replace(
        "timeout = \"2s\"",
        "token_file = \"t\"\ntoken_env = \"PROM_TOKEN\"",
    )]);
    refused(&both, "prometheus.token_env", "token_env", "not both");
    let missing = with(&[&PROMETHEUS.replace("url = \"http://127.0.0.1:9090\"\n", "")]);
    let errors = errors_of(&missing, Format::Toml);
    assert_eq!(errors[0].field, "prometheus.url", "{errors:?}");
}

#[test]
fn gate_options_that_need_unit_data_are_refused_on_a_prometheus_metric() {
    let text = with(&[PROMETHEUS])
        + &ROLLOUT.replace(
            "{ metric = \"conversion\", compare = \"control\", max_worsening = \"2%\" },",
            "{ metric = \"p99\", max = 0.3, quantile = 0.99 },\n  { metric = \"p99\", compare = \"control\", alpha = 0.01 },",
        );
    let errors = errors_of(&text, Format::Toml);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "rollouts[0].gates[0].quantile",
            "rollouts[0].gates[1].alpha"
        ],
        "{errors:?}"
    );
    assert!(
        errors[0].message.contains("histogram_quantile"),
        "{errors:?}"
    );
    assert!(
        errors[1].message.contains("without a statistical test"),
        "{errors:?}"
    );
}

#[test]
fn placeholders_must_have_a_value_where_the_metric_is_used() {
    let text = with(&[&PROMETHEUS.replace("{{model}}", "{{experiment}}")])
        + &ROLLOUT.replace(
            "{ metric = \"conversion\", compare = \"control\", max_worsening = \"2%\" },",
            "{ metric = \"p99\", max = 0.3 },",
        );
    refused(
        &text,
        "rollouts[0].gates[0].metric",
        "metric = \"p99\", max",
        "uses {{experiment}}, which has no value in a rollout gate",
    );
    let text = with(&[&PROMETHEUS.replace("{{model}}", "{{stage}}")])
        + &EXPERIMENT.replace(
            "primary = \"conversion\"",
            "primary = \"conversion\"\nsecondary = [\"p99\"]",
        );
    refused(
        &text,
        "experiments[0].secondary[0]",
        "secondary =",
        "uses {{stage}}, which has no value in an experiment",
    );
}

#[test]
fn a_prometheus_metric_cannot_decide_an_experiment() {
    let text =
        with(&[PROMETHEUS]) + &EXPERIMENT.replace("primary = \"conversion\"", "primary = \"p99\"");
    refused(
        &text,
        "experiments[0].primary",
        "primary = \"p99\"",
        "cannot be the primary metric: the stopping rule decides with a statistical test",
    );
}

#[test]
fn a_prometheus_guardrail_needs_a_limit_and_limits_need_prometheus_guardrails() {
    let text = with(&[PROMETHEUS])
        + &EXPERIMENT.replace(
            "primary = \"conversion\"",
            "primary = \"conversion\"\nguardrails = [\"p99\"]",
        );
    refused(
        &text,
        "experiments[0].guardrails[0]",
        "guardrails =",
        "give it a limit",
    );
    let text = with(&[PROMETHEUS])
        + &EXPERIMENT.replace(
            "primary = \"conversion\"",
            "primary = \"conversion\"\nguardrails = [\"p99\", \"latency\"]\nlimits = [{ metric = \"p99\", max = 1 }, { metric = \"latency\", max = 1 }, { metric = \"p99\", max = 1, quantile = 0.5 }]",
        );
    let errors = errors_of(&text, Format::Toml);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "experiments[0].limits[1].metric",
            "experiments[0].limits[2].quantile"
        ],
        "{errors:?}"
    );
    assert!(
        errors[0]
            .message
            .contains("limits apply to prometheus metrics"),
        "{errors:?}"
    );
}

#[test]
fn prometheus_doc_examples_load() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/prometheus.md");
    let doc = std::fs::read_to_string(path).expect("docs/prometheus.md exists");
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default())
        .collect();
    assert!(blocks.len() >= 3, "{} toml blocks", blocks.len());
    for b in blocks {
        load_str(b, Format::Toml, "docs/prometheus.md").unwrap_or_else(|e| panic!("{e}\n{b}"));
    }
}

// ----------------------------------------------------------------------------------------------
// Comparison gates: goals, tolerances and warnings

/// The warnings of a valid config.
fn warnings_of(text: &str) -> Vec<ConfigError> {
    match check_str(text, Format::Toml, "test.conf") {
        Ok(loaded) => loaded.warnings,
        Err(e) => panic!("the config was refused:\n{e}\n{text}"),
    }
}

/// `metric` in `BASE` without its goal.
fn base_without_goal() -> String {
    BASE.replacen(
        "event = \"purchase\"\ngoal = \"increase\"\n",
        "event = \"purchase\"\n",
        1,
    )
}

#[test]
fn a_comparison_on_a_metric_without_goal_is_refused_with_the_likely_goal() {
    let text = format!("{}{ROLLOUT}", base_without_goal());
    let errors = errors_of(&text, Format::Toml);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e.field, "metrics[0].goal");
    // A missing key is reported at the table that lacks it, the line above its name.
    assert_eq!(e.line, Some(line_of(&text, "name = \"conversion\"") - 1));
    assert_eq!(
        e.message,
        "metric \"conversion\" is compared with the control (rollouts[0].gates[0]) but has no goal, so which direction is worse is unknown: the name reads like a conversion rate, so probably goal = \"increase\" (higher is better); goal = \"decrease\" if lower is better"
    );
    // An error-like name suggests lower is better; the guess is a message, never applied.
    let text = format!(
        "{BASE}\n[[metrics]]\nname = \"error_rate\"\nkind = \"ratio\"\nnumerator = \"error\"\ndenominator = \"request\"\n{}",
        ROLLOUT.replace(
            "max_worsening = \"2%\" },",
            "max_worsening = \"2%\" },\n  { metric = \"error_rate\", compare = \"control\", max_worsening = \"25%\" },"
        )
    );
    let errors = errors_of(&text, Format::Toml);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "metrics[3].goal");
    assert!(
        errors[0].message.contains("(rollouts[0].gates[1])")
            && errors[0].message.contains(
                "the name reads like an error rate, so probably goal = \"decrease\" (lower is better)"
            ),
        "{}",
        errors[0].message
    );
    // A name that says nothing gets both choices.
    let text = format!(
        "{}{ROLLOUT}",
        base_without_goal().replace("name = \"conversion\"", "name = \"score\"")
    )
    .replace("metric = \"conversion\"", "metric = \"score\"");
    let errors = errors_of(&text, Format::Toml);
    assert!(
        errors[0].message.ends_with(
            "add goal = \"increase\" (higher is better) or goal = \"decrease\" (lower is better)"
        ),
        "{}",
        errors[0].message
    );
    // Latency is lower-is-better by kind, and a metric no gate compares needs no goal.
    let text = format!("{}{ROLLOUT}", base_without_goal()).replace(
        "{ metric = \"conversion\", compare = \"control\", max_worsening = \"2%\" }",
        "{ metric = \"latency\", compare = \"control\", max_worsening = \"10%\" }, { metric = \"conversion\", min = 0.01 }",
    );
    assert_eq!(warnings_of(&text), Vec::new());
}

#[test]
fn the_old_margin_is_refused_with_its_replacement() {
    let text = rollout_with("max_worsening = \"2%\"", "margin = -0.02");
    refused(
        &text,
        "rollouts[0].gates[0].margin",
        "margin = -0.02",
        "`margin` is replaced by `max_worsening`, the amount the candidate may be worse than the control, written as a positive number (the sign is gone): margin = -0.02 becomes max_worsening = \"2%\"",
    );
    // A positive margin meant "better by that much": the message says so.
    let text = rollout_with("max_worsening = \"2%\"", "margin = 0.05");
    refused(
        &text,
        "rollouts[0].gates[0].margin",
        "margin = 0.05",
        "margin = 0.05 demanded a candidate better than the control by that much; to allow 5% worse write max_worsening = \"5%\"",
    );
    let text = rollout_with("max_worsening = \"2%\"", "margin_kind = \"absolute\"");
    refused(
        &text,
        "rollouts[0].gates[0].margin_kind",
        "margin_kind",
        "`margin_kind` is gone: the form of `max_worsening` says the kind",
    );
}

#[test]
fn max_worsening_forms() {
    let c = load_str(
        &rollout_with("max_worsening = \"2%\"", "max_worsening = 0.004"),
        Format::Toml,
        "t",
    )
    .unwrap();
    assert_eq!(
        c.rollouts[0].gates[0].max_worsening,
        Some(Worsening::Absolute(0.004))
    );
    assert!((c.rollouts[0].gates[0].worsening().amount() - 0.004).abs() < 1e-15);
    let c = load_str(
        &rollout_with("max_worsening = \"2%\"", "max_worsening = \"2.5%\""),
        Format::Toml,
        "t",
    )
    .unwrap();
    assert!((c.rollouts[0].gates[0].worsening().amount() - 0.025).abs() < 1e-15);
    // Round trip through JSON keeps the form.
    let json = serde_json::to_value(&c.rollouts[0].gates[0]).unwrap();
    assert_eq!(json["max_worsening"], "2.5%");
    for bad in ["\"2\"", "\"2 %\"", "\"%\"", "\"five%\"", "true"] {
        let text = rollout_with("max_worsening = \"2%\"", &format!("max_worsening = {bad}"));
        let errors = errors_of(&text, Format::Toml);
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].field, "rollouts[0].gates[0].max_worsening");
        assert!(
            errors[0].message.contains(
                "a percentage of the control's value such as \"5%\", or a number in the metric's own units such as 0.002"
            ),
            "{bad}: {}",
            errors[0].message
        );
    }
    for (bad, fix) in [("\"-2%\"", "\"2%\""), ("-0.01", "0.01")] {
        let text = rollout_with("max_worsening = \"2%\"", &format!("max_worsening = {bad}"));
        refused(
            &text,
            "rollouts[0].gates[0].max_worsening",
            &format!("max_worsening = {bad}"),
            &format!("so it has no sign; write max_worsening = {fix}"),
        );
    }
}

#[test]
fn gates_that_can_only_pass_by_improving_are_warned_about() {
    // No tolerance (omitted or 0): equal arms never pass.
    for (gate, marker) in [
        ("compare = \"control\" }", "compare = \"control\" }"),
        (
            "compare = \"control\", max_worsening = \"0%\" }",
            "max_worsening = \"0%\"",
        ),
        (
            "compare = \"control\", max_worsening = 0 }",
            "max_worsening = 0 }",
        ),
    ] {
        let text = rollout_with("compare = \"control\", max_worsening = \"2%\" }", gate);
        let w = warnings_of(&text);
        assert_eq!(w.len(), 1, "{gate}: {w:?}");
        assert_eq!(w[0].field, "rollouts[0].gates[0].max_worsening");
        assert_eq!(w[0].line, Some(line_of(&text, marker)));
        assert!(
            w[0].message.contains("this gate passes only once the candidate is shown better than the control, and a candidate equal to it stays inconclusive until the stage times out"),
            "{}",
            w[0].message
        );
    }
    // max = 0 on a share can never be shown met; min = 1 likewise.
    let text = rollout_with("compare = \"control\", max_worsening = \"2%\"", "max = 0");
    let w = warnings_of(&text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].field, "rollouts[0].gates[0].max");
    assert!(
        w[0].message.starts_with("max = 0 can never pass"),
        "{}",
        w[0].message
    );
    let text = rollout_with("compare = \"control\", max_worsening = \"2%\"", "min = 1");
    let w = warnings_of(&text);
    assert_eq!(w[0].field, "rollouts[0].gates[0].min");
    assert!(
        w[0].message.starts_with("min = 1 can never pass"),
        "{}",
        w[0].message
    );
    // 100% fewer conversions allowed: the gate can never fail.
    let text = rollout_with("max_worsening = \"2%\"", "max_worsening = \"100%\"");
    let w = warnings_of(&text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].message.contains("can never fail"), "{}", w[0].message);
    // A tolerance: no warning.
    assert_eq!(warnings_of(&with(&[ROLLOUT])), Vec::new());
}

#[test]
fn limits_no_value_can_meet_are_refused() {
    for (gate, field, says) in [
        (
            "metric = \"latency\", quantile = 0.99, max = -5",
            "rollouts[0].gates[0].max",
            "max -5 is below 0 and a latency metric is in milliseconds, 0 or more",
        ),
        (
            "metric = \"conversion\", max = -0.1",
            "rollouts[0].gates[0].max",
            "max -0.1 is below 0 and a binary metric is a share of units, from 0 to 1",
        ),
        (
            "metric = \"conversion\", min = 1.5",
            "rollouts[0].gates[0].min",
            "min 1.5 is above 1 and a binary metric is a share of units",
        ),
    ] {
        let text = rollout_with(
            "metric = \"conversion\", compare = \"control\", max_worsening = \"2%\"",
            gate,
        );
        refused(&text, field, gate, says);
    }
}

#[test]
fn absurd_durations_and_sizes_are_refused_with_the_valid_range() {
    let server = |line: &str| format!("[server]\n{line}\n{}", with(&[ROLLOUT]));
    let text = server("tick = \"2h\"");
    refused(
        &text,
        "server.tick",
        "tick = ",
        "must be at most 1h (gates act on harm only at a look), found 2h",
    );
    // 292 million years fits in the type; it is refused as a tick all the same.
    let text = server("tick = \"9223372036854ms\"");
    refused(&text, "server.tick", "tick = ", "must be at most 1h");
    let text = server("evidence_bucket = \"30d\"");
    refused(
        &text,
        "server.evidence_bucket",
        "evidence_bucket",
        "must be at most 1w",
    );
    let text = server("max_body_bytes = 4294967296");
    refused(
        &text,
        "server.max_body_bytes",
        "max_body_bytes",
        "must be at most 1073741824 (1 GiB",
    );
    let text = rollout_with("min_duration = \"24h\"", "min_duration = \"400d\"");
    refused(
        &text,
        "rollouts[0].stages[1].min_duration",
        "min_duration = \"400d\"",
        "must be at most 366d, found 400d",
    );
}

#[test]
fn durations_with_spaces_are_refused() {
    for written in ["5 s", " 5s", "5s "] {
        let text = format!("[server]\ntick = \"{written}\"\n{}", with(&[ROLLOUT]));
        refused(
            &text,
            "server.tick",
            "tick = ",
            &format!("invalid duration {written:?}: expected a whole number followed by ms, s, m, h, d or w, with no spaces"),
        );
    }
}

/// The fenced `toml` blocks of every page in docs/.
fn all_doc_toml_blocks() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("docs/ exists") {
        let path = entry.expect("readable").path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let doc = std::fs::read_to_string(&path).expect("readable");
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut current: Option<String> = None;
        for line in doc.lines() {
            match current.as_mut() {
                Some(block) if line.starts_with("```") => {
                    out.push((name.clone(), std::mem::take(block)));
                    current = None;
                }
                Some(block) => {
                    block.push_str(line);
                    block.push('\n');
                }
                None if line.trim() == "```toml" => current = Some(String::new()),
                None => {}
            }
        }
    }
    out
}

#[test]
fn doc_configs_carry_no_warnings_and_no_old_keys() {
    let blocks = all_doc_toml_blocks();
    let mut complete = 0;
    for (page, block) in &blocks {
        match check_str(block, Format::Toml, page) {
            Ok(loaded) => {
                complete += 1;
                assert!(
                    loaded.warnings.is_empty(),
                    "{page}: a documented config has warnings:\n{:?}\n{block}",
                    loaded.warnings
                );
            }
            // A fragment may name models or metrics defined elsewhere on the page, but nothing
            // about its gates may be wrong.
            Err(errors) => {
                for e in &errors.0 {
                    assert!(
                        !["goal", "margin", "max_worsening", "duration"]
                            .iter()
                            .any(|k| e.field.ends_with(k) || e.message.contains("duration")),
                        "{page}: {e}\n{block}"
                    );
                }
            }
        }
    }
    assert!(
        complete >= 5,
        "only {complete} complete configs in {} blocks",
        blocks.len()
    );
}

#[test]
fn an_experiment_metric_without_goal_is_warned_about() {
    let text = experiment_with("primary = \"conversion\"", "primary = \"ctr\"");
    let w = warnings_of(&text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].field, "metrics[1].goal");
    assert_eq!(
        w[0].message,
        "metric \"ctr\" is analysed by experiment \"bakeoff\" (experiments[0]) without a goal, so higher is taken as better; state it with goal = \"increase\" or \"decrease\""
    );
    // With its goal stated (conversion's), nothing to say.
    assert_eq!(warnings_of(&with(&[EXPERIMENT])), Vec::new());
}

#[test]
fn client_timeouts_are_bounded() {
    let config = load_str(BASE, Format::Toml, "ok.toml").expect("valid");
    assert_eq!(config.server.header_timeout.as_millis(), 10_000);
    assert_eq!(config.server.body_timeout.as_millis(), 30_000);
    assert_eq!(config.server.request_timeout.as_millis(), 60_000);
    let text = format!("[server]\nheader_timeout = \"50ms\"\n{BASE}");
    refused(
        &text,
        "server.header_timeout",
        "50ms",
        "must be from 100ms to 1h, found 50ms",
    );
    let text = format!("[server]\nbody_timeout = \"2h\"\n{BASE}");
    refused(
        &text,
        "server.body_timeout",
        "2h",
        "must be from 100ms to 1h, found 2h",
    );
}

#[test]
fn a_request_timeout_must_leave_room_for_a_proxied_call_and_its_retry() {
    let proxied = BASE.replace(
        "variants = [{ name = \"a\" }, { name = \"b\" }]",
        "variants = [{ name = \"a\", endpoint = \"http://127.0.0.1:9/a\" }, { name = \"b\", endpoint = \"http://127.0.0.1:9/b\", timeout = \"20s\" }]",
    );
    assert_ne!(proxied, BASE);
    let text = format!("[server]\nrequest_timeout = \"30s\"\n{proxied}");
    refused(
        &text,
        "server.request_timeout",
        "30s",
        "shorter than twice models[1].variants[1].timeout (20s)",
    );
    let text = format!("[server]\nrequest_timeout = \"40s\"\n{proxied}");
    load_str(&text, Format::Toml, "ok.toml").expect("twice the slowest variant is enough");
}
