//! Per-host rendering of parameter templates with minijinja.
//!
//! A template sees the host's merged variables at the top level, plus
//! `host` (name, address, port, user, labels, groups), `labels` and `facts`
//! (what the agent reported). Undefined variables are errors, not empty
//! strings. The environment has no loader (no `include`, no `import`), no
//! function that reads files or runs anything, and a fuel limit, so a
//! template can neither reach outside its inputs nor run away. minijinja's
//! `debug()` is removed: it would print every variable of the host, secrets
//! included, into the rendered value and from there into errors.

use minijinja::{Environment, ErrorKind, UndefinedBehavior};

/// Instructions one template may execute: far beyond any honest parameter
/// expression, far below a hang.
const FUEL: u64 = 20_000;

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(32);
        env.remove_global("debug");
        Templates { env }
    }
}

/// True when `text` holds template syntax and must be rendered.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Statements that load other templates: without a loader they could only
/// fail, and minijinja would call them an unknown statement.
const LOADING_STATEMENTS: [&str; 4] = ["include", "import", "from", "extends"];

impl Templates {
    pub fn render(&self, template: &str, ctx: &serde_json::Value) -> Result<String, String> {
        if let Some(statement) = loading_statement(template) {
            return Err(format!(
                "`{{% {statement} %}}` is not available: a template sees only its variables, `host`, `labels`, \
                 `groups` and `facts`, and cannot load other templates or files"
            ));
        }
        let ctx = minijinja::Value::from(minijinja::value::Serde(ctx));
        self.env.render_str(template, ctx).map_err(|e| {
            let mut msg = e.kind().to_string();
            if let Some(detail) = e.detail() {
                msg.push_str(": ");
                msg.push_str(detail);
            }
            if e.kind() == ErrorKind::UndefinedError || msg.contains("undefined") {
                msg.push_str(
                    " (a variable, fact or attribute that does not exist; define it in `vars` or use `| default(...)`)",
                );
            }
            msg
        })
    }
}

/// The first `{% include %}`-like statement in `template`, if any.
fn loading_statement(template: &str) -> Option<&'static str> {
    template.match_indices("{%").find_map(|(at, _)| {
        let rest = template[at + 2..].trim_start_matches(['-', '+']).trim_start();
        let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        LOADING_STATEMENTS.into_iter().find(|s| *s == word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str) -> Result<String, String> {
        Templates::default().render(t, &json!({ "slice": 5, "facts": { "cpus": 96 }, "host": { "name": "gpu-01" } }))
    }

    #[test]
    fn renders_vars_facts_and_host() {
        assert_eq!(render("{{ slice * 1000 }}").unwrap(), "5000");
        assert_eq!(render("{{ 3000 if facts.cpus >= 64 else 5000 }}").unwrap(), "3000");
        assert_eq!(render("{{ host.name }}").unwrap(), "gpu-01");
        assert_eq!(render("{{ missing | default(7) }}").unwrap(), "7");
    }

    #[test]
    fn undefined_and_hostile_templates_fail() {
        assert!(render("{{ nope }}").unwrap_err().contains("undefined"));
        assert!(render("{{ facts.tpus }}").is_err());
        assert!(render("{% include '/etc/passwd' %}").is_err());
        assert!(render("{%- import 'x' as y %}").unwrap_err().contains("cannot load other templates"));
        assert!(render("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}").is_err());
        assert!(render("{{ ").is_err());
    }

    #[test]
    fn debug_is_not_available() {
        let err = render("{{ debug() }}").unwrap_err();
        assert!(err.contains("unknown function") || err.contains("undefined"), "{err}");
    }
}
