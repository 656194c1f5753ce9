//! Prompt templates: text with `{field}` placeholders, rendered with the byte span of every value.

use std::ops::Range;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// The value of the field with this index.
    Field(usize),
}

/// A parsed template such as `"user id is {user_id}. gender is {gender}."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Where a field's value sits in a rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Index of the field.
    pub field: usize,
    /// Byte range of the value in the prompt.
    pub bytes: Range<usize>,
}

impl Template {
    /// Parses `text`; placeholders must name one of `fields`, each at most once.
    /// `{{` and `}}` stand for literal braces.
    pub fn parse(text: &str, fields: &[&str]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        let mut used = vec![false; fields.len()];
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed `{{` at byte {at}"))?;
                    let key = rest[..end].trim();
                    let index = fields.iter().position(|f| *f == key).ok_or_else(|| {
                        format!(
                            "unknown field `{key}`; the fields are: {}",
                            fields.join(", ")
                        )
                    })?;
                    if used[index] {
                        return Err(format!("field `{key}` appears twice"));
                    }
                    used[index] = true;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(index));
                    let close = at + 1 + end;
                    while chars.next_if(|&(i, _)| i <= close).is_some() {}
                }
                '}' => {
                    return Err(format!(
                        "unmatched `}}` at byte {at} (write `}}}}` for a brace)"
                    ));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        if !used.iter().any(|u| *u) {
            return Err("the template uses no field".into());
        }
        Ok(Template { parts })
    }

    /// The pieces, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Fields that the template does not mention (they are in the ID vector only).
    pub fn unused_fields(&self, num_fields: usize) -> Vec<usize> {
        (0..num_fields)
            .filter(|f| !self.parts.contains(&Part::Field(*f)))
            .collect()
    }

    /// Renders the prompt for one row into `out` (cleared first) and the value spans into
    /// `spans` (cleared first). `texts[f]` is the text of field `f`.
    pub fn render(&self, texts: &[&str], out: &mut String, spans: &mut Vec<Span>) {
        out.clear();
        spans.clear();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    let start = out.len();
                    out.push_str(texts[*f]);
                    spans.push(Span {
                        field: *f,
                        bytes: start..out.len(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_spans() {
        let t = Template::parse(
            "user id is {user}. gender is {gender}.",
            &["user", "gender"],
        )
        .unwrap();
        let (mut out, mut spans) = (String::new(), Vec::new());
        t.render(&["42", "female"], &mut out, &mut spans);
        assert_eq!(out, "user id is 42. gender is female.");
        assert_eq!(&out[spans[0].bytes.clone()], "42");
        assert_eq!(&out[spans[1].bytes.clone()], "female");
        assert_eq!(spans[1].field, 1);
    }

    #[test]
    fn braces_escape_and_errors() {
        let t = Template::parse("{{x}} {a}", &["a"]).unwrap();
        assert_eq!(t.parts(), &[Part::Text("{x} ".into()), Part::Field(0)]);
        assert!(
            Template::parse("{b}", &["a"])
                .unwrap_err()
                .starts_with("unknown field `b`")
        );
        assert!(
            Template::parse("{a} {a}", &["a"])
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            Template::parse("{a", &["a"])
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(
            Template::parse("a}", &["a"])
                .unwrap_err()
                .contains("unmatched")
        );
        assert!(Template::parse("no fields", &["a"]).is_err());
    }

    #[test]
    fn unused_fields_are_listed() {
        let t = Template::parse("{b}", &["a", "b", "c"]).unwrap();
        assert_eq!(t.unused_fields(3), vec![0, 2]);
    }
}
