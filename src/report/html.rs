//! The report as one static HTML file: inline CSS, nothing fetched from the network, every
//! link relative to `images_out/`, so it opens from `file://` and still works after the
//! folder is moved. A small inline script marks each image once the page has loaded
//! (`data-state="loaded"` or `"failed"`) and lists the images that failed to load (a deleted
//! output) in a visible warning; the browser test reads the same marks.

use std::fmt::Write as _;

use htmlize::{escape_attribute as attr, escape_text as text};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::page::{Body, Figure, Link, Page, Section};

/// Versions the markup: part of the report's key.
pub const VERSION: &str = "disco-report/1";

/// Characters escaped in a path segment of a URL (RFC 3986's `pchar` keeps the rest).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A relative path as a URL: each segment percent-encoded.
pub fn url(path: &str) -> String {
    path.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd}
nav a,.links a{margin-right:1rem}
.figures{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0;padding:6px;background:#fff;border:1px solid #ddd}
figure img{display:block}
figcaption{font-size:12px;margin-top:4px}.facts{color:#555}
.empty{display:flex;align-items:center;justify-content:center;background:#e4e4e4;color:#666;font-size:12px}
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:6px;vertical-align:top;text-align:left}
table.sweep th{background:#f0f0f0;white-space:nowrap}
details{font-size:12px;margin-top:4px}summary{cursor:pointer;color:#444}
dl{display:grid;grid-template-columns:auto 1fr;gap:0 8px;margin:4px 0}dt{color:#666}dd{margin:0;overflow-wrap:anywhere}
td code{overflow-wrap:anywhere}
#load-failures{background:#fee;border:1px solid #c33;padding:8px;margin:1rem 0}";

/// Marks every image once the page (and so every image) has loaded or failed.
const SCRIPT: &str = r#"window.addEventListener("load", () => {
  const failed = [];
  for (const img of document.images) {
    const ok = img.complete && img.naturalWidth > 0;
    img.dataset.state = ok ? "loaded" : "failed";
    if (!ok) failed.push(img.getAttribute("src"));
  }
  const box = document.getElementById("load-failures");
  for (const src of failed) {
    const li = document.createElement("li");
    li.textContent = src;
    box.querySelector("ul").append(li);
  }
  box.hidden = failed.length === 0;
  document.body.dataset.images = document.images.length;
  document.body.dataset.failed = failed.length;
});"#;

/// The report page.
pub fn render(page: &Page) -> String {
    let mut o = String::new();
    let title = format!("disco report: {}", page.title);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"{VERSION}\">\n<title>{}</title>\n<style>\n{STYLE}\n</style>\n\
         </head>\n<body>\n<h1>{}</h1>\n",
        text(&title),
        text(&title)
    );
    let missing = match page.missing {
        0 => String::new(),
        n => format!("; {n} not built"),
    };
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let _ = writeln!(
        o,
        "<p>{} in {}{missing}. Click an image for the full PNG.</p>",
        plural(page.images, "image"),
        plural(page.sections.len(), "target")
    );
    o.push_str(
        "<div id=\"load-failures\" hidden><strong>These images did not load</strong> \
         (deleted or moved? <code>disco build</code> puts them back):<ul></ul></div>\n<nav>",
    );
    for s in &page.sections {
        let _ = write!(o, "<a href=\"#{}\">{}</a>", attr(&s.id), text(&s.heading));
    }
    o.push_str("</nav>\n");
    for s in &page.sections {
        section(&mut o, s);
    }
    let _ = write!(o, "<script>\n{SCRIPT}\n</script>\n</body>\n</html>\n");
    o
}

fn section(o: &mut String, s: &Section) {
    let _ = writeln!(
        o,
        "<section id=\"{}\">\n<h2>{}</h2>",
        attr(&s.id),
        text(&s.heading)
    );
    if !s.links.is_empty() {
        o.push_str("<p class=\"links\">");
        for l in &s.links {
            link(o, l);
        }
        o.push_str("</p>\n");
    }
    if !s.settings.is_empty() {
        let _ = write!(
            o,
            "<details><summary>{} settings differ from Disco Diffusion's defaults</summary><table>",
            s.settings.len()
        );
        for (k, v) in &s.settings {
            let _ = write!(
                o,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                text(k),
                text(v)
            );
        }
        o.push_str("</table></details>\n");
    }
    match &s.body {
        Body::Figures(figures) => figures_row(o, figures),
        Body::Grid { grid, cells } => {
            o.push_str("<table class=\"sweep\">\n<thead><tr><th></th>");
            for c in &grid.cols {
                let _ = write!(o, "<th>{}</th>", text(c));
            }
            o.push_str("</tr></thead>\n<tbody>\n");
            for (r, header) in grid.rows.iter().enumerate() {
                let lines: Vec<String> = header.iter().map(|h| text(h).into_owned()).collect();
                let _ = write!(o, "<tr><th>{}</th>", lines.join("<br>"));
                for c in 0..grid.cols.len() {
                    o.push_str("<td>");
                    if let Some(figures) = cells.get(&(r, c)) {
                        figures_row(o, figures);
                    }
                    o.push_str("</td>");
                }
                o.push_str("</tr>\n");
            }
            o.push_str("</tbody>\n</table>\n");
        }
    }
    o.push_str("</section>\n");
}

fn link(o: &mut String, l: &Link) {
    let _ = write!(
        o,
        "<a href=\"{}\">{}</a>",
        attr(url(&l.href)),
        text(&l.text)
    );
}

fn figures_row(o: &mut String, figures: &[Figure]) {
    o.push_str("<div class=\"figures\">\n");
    for f in figures {
        figure(o, f);
    }
    o.push_str("</div>\n");
}

fn figure(o: &mut String, f: &Figure) {
    let (w, h) = f.size;
    // captions wrap to the thumbnail's width, but never narrower than a short line
    let _ = write!(o, "<figure style=\"width:{}px\">", w.max(140));
    match &f.image {
        Some(img) => {
            let _ = write!(
                o,
                "<a href=\"{}\"><img src=\"{}\" width=\"{w}\" height=\"{h}\" alt=\"{}\"></a>",
                attr(url(&img.full)),
                attr(url(&img.thumb)),
                attr(&img.alt)
            );
        }
        None => {
            let _ = write!(
                o,
                "<div class=\"empty\" style=\"width:{w}px;height:{h}px\">not built</div>"
            );
        }
    }
    let facts: Vec<String> = f.facts.iter().map(|x| text(x).into_owned()).collect();
    let _ = write!(
        o,
        "<figcaption><strong>{}</strong><br><span class=\"facts\">{}</span></figcaption>",
        text(&f.caption),
        facts.join(" · ")
    );
    if !f.details.is_empty() {
        o.push_str("<details><summary>inputs</summary><dl>");
        for (k, v) in &f.details {
            let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", text(k), text(v));
        }
        o.push_str("</dl></details>");
    }
    o.push_str("</figure>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::page::Image;

    fn page(prompt: &str) -> Page {
        Page {
            title: "a \"film\" <1>".into(),
            sections: vec![Section {
                id: "target-1".into(),
                heading: "stills \"a&b\"".into(),
                links: vec![Link {
                    text: "settings file".into(),
                    href: "my batch/my batch(0)_settings.txt".into(),
                }],
                settings: vec![("text_prompts".into(), format!("{{\"0\":[\"{prompt}\"]}}"))],
                body: Body::Figures(vec![Figure {
                    caption: "image 0".into(),
                    size: (64, 64),
                    image: Some(Image {
                        full: "my batch/my batch(0)_0.png".into(),
                        thumb: ".thumbs/ab.png".into(),
                        alt: format!("still {prompt}"),
                    }),
                    facts: vec!["seed 1".into()],
                    details: vec![("text prompt".into(), prompt.into())],
                }]),
            }],
            images: 1,
            missing: 0,
        }
    }

    #[test]
    fn prompts_are_escaped_in_text_and_attributes() {
        let html = render(&page("<b>&\"x\"</b>"));
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("<dd>&lt;b&gt;&amp;\"x\"&lt;/b&gt;</dd>"),
            "{html}"
        );
        assert!(
            html.contains("alt=\"still &lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;\""),
            "{html}"
        );
        assert!(html.contains("<title>disco report: a \"film\" &lt;1&gt;</title>"));
        assert!(html.contains("stills \"a&amp;b\""));
    }

    #[test]
    fn links_are_percent_encoded_per_segment() {
        assert_eq!(url("my batch/a#1(0)_0.png"), "my%20batch/a%231(0)_0.png");
        assert_eq!(
            url("grid/seed=1,cgs=5000/x.png"),
            "grid/seed=1,cgs=5000/x.png"
        );
        assert_eq!(url("é/50%.png"), "%C3%A9/50%25.png");
        let html = render(&page("p"));
        assert!(html.contains("href=\"my%20batch/my%20batch(0)_0.png\""));
        assert!(html.contains("src=\".thumbs/ab.png\" width=\"64\" height=\"64\""));
    }

    #[test]
    fn the_page_needs_nothing_from_the_network() {
        let html = render(&page("p"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("id=\"load-failures\" hidden"));
    }
}
