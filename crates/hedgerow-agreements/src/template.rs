//! An agreement's text as a school writes it (a title and a body in a very small markup), the
//! checks it must pass before it is published, and its rendering as safe HTML.
//!
//! The markup, line by line: a blank line ends a paragraph; `## ` starts a heading; `- `
//! starts a list item; `[picture:NAME] ` starts a sentence shown beside a small picture (for
//! pupils who are just learning to read). Every other line is paragraph text. Nothing typed
//! ever becomes HTML: all of it is escaped, so a school cannot break the portal by accident
//! and nobody can use the text to attack the people reading it.

use crate::pictures::picture_svg;
use hedgerow_records::escape_html;

/// An agreement's title and body, as written by a school (or the project's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub title: String,
    pub body: String,
}

const LONGEST_TITLE_CHARS: usize = 200;
const LONGEST_BODY_CHARS: usize = 20_000;
const PICTURE_PREFIX: &str = "[picture:";

/// Why an agreement's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the agreement needs a title")]
    EmptyTitle,
    #[error(
        "the title is {chars} characters long: keep it to {LONGEST_TITLE_CHARS} characters or fewer"
    )]
    TitleTooLong { chars: usize },
    #[error("the agreement needs some text")]
    EmptyBody,
    #[error(
        "the text is {chars} characters long: keep it to {LONGEST_BODY_CHARS} characters or fewer"
    )]
    BodyTooLong { chars: usize },
    #[error(
        "line {line} asks for a picture called \"{name}\", which does not exist: use one of {known}"
    )]
    UnknownPicture {
        line: usize,
        name: String,
        known: String,
    },
    #[error(
        "line {line} starts a picture but does not finish it: write [picture:NAME] and then the sentence"
    )]
    UnfinishedPicture { line: usize },
}

/// Checks an agreement's title and body before they are published: a title of 1 to 200
/// characters and a body of 1 to 20,000 (neither only spaces), and every picture one that
/// exists.
pub fn check_template(title: &str, body: &str) -> Result<(), TemplateError> {
    let title_chars = title.chars().count();
    if title.trim().is_empty() {
        return Err(TemplateError::EmptyTitle);
    }
    if title_chars > LONGEST_TITLE_CHARS {
        return Err(TemplateError::TitleTooLong { chars: title_chars });
    }
    let body_chars = body.chars().count();
    if body.trim().is_empty() {
        return Err(TemplateError::EmptyBody);
    }
    if body_chars > LONGEST_BODY_CHARS {
        return Err(TemplateError::BodyTooLong { chars: body_chars });
    }
    for (index, line) in body.lines().enumerate() {
        let line_number = index + 1;
        match parse_line(line) {
            Line::Picture { name, .. } if picture_svg(name).is_none() => {
                return Err(TemplateError::UnknownPicture {
                    line: line_number,
                    name: name.to_string(),
                    known: crate::PICTURES.join(", "),
                });
            }
            Line::UnfinishedPicture => {
                return Err(TemplateError::UnfinishedPicture { line: line_number });
            }
            _ => {}
        }
    }
    Ok(())
}

/// One line of the markup.
enum Line<'a> {
    Blank,
    Heading(&'a str),
    Item(&'a str),
    Picture { name: &'a str, sentence: &'a str },
    UnfinishedPicture,
    Text(&'a str),
}

fn parse_line(line: &str) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() {
        Line::Blank
    } else if let Some(heading) = line.strip_prefix("## ") {
        Line::Heading(heading.trim())
    } else if let Some(item) = line.strip_prefix("- ") {
        Line::Item(item.trim())
    } else if let Some(rest) = line.strip_prefix(PICTURE_PREFIX) {
        match rest.split_once(']') {
            Some((name, sentence)) => Line::Picture {
                name: name.trim(),
                sentence: sentence.trim(),
            },
            None => Line::UnfinishedPicture,
        }
    } else {
        Line::Text(line)
    }
}

/// The kinds of block the HTML is built of; consecutive lines of one kind share a block.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Block {
    None,
    Paragraph,
    List,
    Pictures,
}

/// The body as safe HTML: paragraphs (`<p>`), headings (`<h2>`), lists (`<ul>`), and picture
/// sentences as a list (`<ul class="agreement-pictures">`) with the picture's inline SVG
/// before each sentence. All text is escaped. A picture that does not exist (which
/// `check_template` refuses, but a stored text is not trusted) is shown as the line typed.
pub fn render_body(body: &str) -> String {
    let mut html = String::with_capacity(body.len() * 2);
    let mut open = Block::None;
    for line in body.lines() {
        let parsed = parse_line(line);
        let wanted = match &parsed {
            Line::Blank | Line::Heading(_) => Block::None,
            Line::Item(_) => Block::List,
            Line::Picture { name, .. } if picture_svg(name).is_some() => Block::Pictures,
            _ => Block::Paragraph,
        };
        if wanted != open {
            close_block(&mut html, open);
            open_block(&mut html, wanted);
        } else if wanted == Block::Paragraph {
            html.push('\n');
        }
        open = wanted;
        match parsed {
            Line::Blank => {}
            Line::Heading(heading) => {
                html.push_str("<h2>");
                html.push_str(&escape_html(heading));
                html.push_str("</h2>\n");
            }
            Line::Item(item) => {
                html.push_str("<li>");
                html.push_str(&escape_html(item));
                html.push_str("</li>\n");
            }
            Line::Picture { name, sentence } => match picture_svg(name) {
                Some(svg) => {
                    html.push_str("<li>");
                    html.push_str(svg);
                    html.push_str(" <span>");
                    html.push_str(&escape_html(sentence));
                    html.push_str("</span></li>\n");
                }
                None => html.push_str(&escape_html(line.trim())),
            },
            Line::UnfinishedPicture => html.push_str(&escape_html(line.trim())),
            Line::Text(text) => html.push_str(&escape_html(text)),
        }
    }
    close_block(&mut html, open);
    html
}

fn open_block(html: &mut String, block: Block) {
    html.push_str(match block {
        Block::None => "",
        Block::Paragraph => "<p>",
        Block::List => "<ul>\n",
        Block::Pictures => "<ul class=\"agreement-pictures\">\n",
    });
}

fn close_block(html: &mut String, block: Block) {
    html.push_str(match block {
        Block::None => "",
        Block::Paragraph => "</p>\n",
        Block::List | Block::Pictures => "</ul>\n",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_template_passes() {
        assert_eq!(
            check_template("Our rules", "[picture:star] Be kind."),
            Ok(())
        );
        assert_eq!(
            check_template(&"t".repeat(200), &"b".repeat(20_000)),
            Ok(())
        );
        // Lengths are counted in characters, not bytes.
        assert_eq!(check_template(&"é".repeat(200), "text"), Ok(()));
    }

    #[test]
    fn empty_or_overlong_parts_are_refused() {
        assert_eq!(check_template("", "text"), Err(TemplateError::EmptyTitle));
        assert_eq!(
            check_template("  \n", "text"),
            Err(TemplateError::EmptyTitle)
        );
        assert_eq!(
            check_template("Title", " \n\n "),
            Err(TemplateError::EmptyBody)
        );
        assert_eq!(
            check_template(&"t".repeat(201), "text"),
            Err(TemplateError::TitleTooLong { chars: 201 })
        );
        assert_eq!(
            check_template("Title", &"b".repeat(20_001)),
            Err(TemplateError::BodyTooLong { chars: 20_001 })
        );
    }

    #[test]
    fn unknown_and_unfinished_pictures_are_refused_with_the_line() {
        let error = check_template("Title", "Intro\n\n[picture:unicorn] Hello").unwrap_err();
        assert!(matches!(
            &error,
            TemplateError::UnknownPicture { line: 3, name, .. } if name == "unicorn"
        ));
        let message = error.to_string();
        assert!(message.contains("unicorn") && message.contains("computer, tell-adult"));
        assert_eq!(
            check_template("Title", "[picture:star Hello"),
            Err(TemplateError::UnfinishedPicture { line: 1 })
        );
    }

    #[test]
    fn markup_becomes_paragraphs_headings_and_lists() {
        let html =
            render_body("First line\nsecond line\n\nNew paragraph\n## Rules\n- one\n- two\n\nEnd");
        assert_eq!(
            html,
            "<p>First line\nsecond line</p>\n\
             <p>New paragraph</p>\n\
             <h2>Rules</h2>\n\
             <ul>\n<li>one</li>\n<li>two</li>\n</ul>\n\
             <p>End</p>\n"
        );
    }

    #[test]
    fn picture_lines_become_a_list_with_the_drawing() {
        let html = render_body("[picture:stop] I stop.\n[picture:tell-adult] I tell.");
        assert!(html.starts_with("<ul class=\"agreement-pictures\">\n<li><svg"));
        assert!(html.contains("<title>A red stop sign</title>"));
        assert!(html.contains("</svg> <span>I stop.</span></li>"));
        assert!(html.contains("</svg> <span>I tell.</span></li>\n</ul>\n"));
        assert_eq!(html.matches("<ul").count(), 1);
    }

    #[test]
    fn everything_typed_is_escaped() {
        let html = render_body(
            "<script>alert(1)</script>\n## <b>bold</b>\n- a & \"b\" 'c'\n[picture:star] <img src=x>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<li>a &amp; &quot;b&quot; &#39;c&#39;</li>"));
    }

    #[test]
    fn an_unknown_picture_in_a_stored_text_is_shown_as_typed() {
        let html = render_body("[picture:<svg onload=x>] Hello");
        assert_eq!(html, "<p>[picture:&lt;svg onload=x&gt;] Hello</p>\n");
        assert_eq!(render_body("[picture:star"), "<p>[picture:star</p>\n");
    }

    #[test]
    fn an_empty_body_renders_nothing() {
        assert_eq!(render_body(""), "");
        assert_eq!(render_body("\n\n  \n"), "");
    }
}
