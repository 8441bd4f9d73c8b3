//! The README's tour, run as written: every `curl` of it, in order, against a fresh server.

use crate::helpers::*;

/// The shell words of one command line: single-quoted words kept whole, a `#` comment cut.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let quoted: String = chars.by_ref().take_while(|&c| c != '\'').collect();
                word.get_or_insert_with(String::new).push_str(&quoted);
            }
            '#' if word.is_none() => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The `curl` commands of the tour (continued lines joined).
fn tour() -> Vec<Vec<String>> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## A short tour")
        .expect("the README has a tour");
    let block = readme[start..].split("```").nth(1).expect("a code block");
    block
        .replace("\\\n", " ")
        .lines()
        .map(words)
        .filter(|w| w.first().is_some_and(|w| w == "curl"))
        .collect()
}

#[tokio::test]
async fn the_readme_tour_works_when_followed_literally() {
    let app = spawn_app().await;
    let commands = tour();
    assert!(commands.len() >= 10, "{commands:?}");
    let mut statuses = Vec::new();
    for command in &commands {
        let mut method = reqwest::Method::GET;
        let mut request = None;
        let mut headers = Vec::new();
        let mut body = None;
        let mut args = command[1..].iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-i" => {}
                "-X" => method = args.next().unwrap().parse().unwrap(),
                "-H" => headers.push(args.next().unwrap().clone()),
                "-d" => body = args.next().cloned(),
                url => {
                    let path = url.strip_prefix("localhost:8080").expect(url);
                    request = Some(path.to_owned());
                }
            }
        }
        let path = request.expect("a URL");
        let mut req = app.client.request(method, app.url(&path));
        for header in headers {
            let (name, value) = header.split_once(':').unwrap();
            req = req.header(name.trim(), value.trim());
        }
        // The tour's one failure on purpose: the simulator declines this number.
        let declined = body.as_deref().is_some_and(|b| b.contains(DECLINED));
        if let Some(body) = body {
            req = req.body(body);
        }
        let r = req.send().await.unwrap();
        statuses.push(r.status().as_u16());
        assert!(
            r.status().is_success() || (declined && r.status() == 402),
            "{command:?}: {} {}",
            r.status(),
            r.text().await.unwrap()
        );
    }
    assert_eq!(&statuses[..3], [201, 402, 200]);
}
