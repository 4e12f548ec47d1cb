use super::*;

/// A fake origin over a sorted list: pages of `page` names after `last`.
fn origin(all: &[String], query: &str, page: usize) -> (Vec<u8>, bool) {
    let last = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "last")
        .map(|(_, v)| v.into_owned());
    let rest: Vec<&String> = all
        .iter()
        .filter(|n| last.as_ref().is_none_or(|l| n.as_str() > l.as_str()))
        .collect();
    let this: Vec<&String> = rest.iter().take(page).copied().collect();
    (
        serde_json::to_vec(&json!({ "repositories": this })).unwrap(),
        rest.len() > page,
    )
}

fn run(all: &[String], q: &CatalogQuery, page: usize, vis: &dyn Fn(&str) -> bool) -> HttpResponse {
    let mut scan = CatalogScan::new(q);
    while let Some(oq) = scan.next_origin_query() {
        let (body, more) = origin(all, &oq, page);
        scan.feed(&body, more, vis).unwrap();
    }
    scan.response()
}

fn names(r: &HttpResponse) -> Vec<String> {
    serde_json::from_value(r.json_body().unwrap()["repositories"].clone()).unwrap()
}

fn next_last(r: &HttpResponse) -> Option<String> {
    let link = r.header("link")?;
    let q = link.split_once('?')?.1.split_once('>')?.0;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "last")
        .map(|(_, v)| v.into_owned())
}

fn catalog() -> Vec<String> {
    let mut v: Vec<String> = (0..300).map(|i| format!("hidden/r{i:03}")).collect();
    v.extend((0..7).map(|i| format!("org/app{i}")));
    v.extend((0..40).map(|i| format!("org/secret{i:02}")));
    v.push("public/base".into());
    v.sort();
    v
}

fn bob(name: &str) -> bool {
    (name.starts_with("org/") && !name.starts_with("org/secret")) || name.starts_with("public/")
}

#[test]
fn paging_through_a_mostly_hidden_catalog_returns_each_visible_name_once() {
    let all = catalog();
    let expected: Vec<String> = all.iter().filter(|n| bob(n)).cloned().collect();
    assert_eq!(expected.len(), 8);
    for (n, origin_page) in [(1, 7), (3, 50), (8, 1000), (2, 3), (5, 1)] {
        let mut got = Vec::new();
        let mut q = CatalogQuery { n, last: None };
        let mut rounds = 0;
        loop {
            let r = run(&all, &q, origin_page, &bob);
            let page = names(&r);
            assert!(page.len() <= n);
            got.extend(page);
            rounds += 1;
            assert!(rounds < 400, "no progress");
            match next_last(&r) {
                Some(last) => q.last = Some(last),
                None => break,
            }
        }
        assert_eq!(got, expected, "n={n} origin page={origin_page}");
    }
}

#[test]
fn link_format_and_full_last_page() {
    let all = catalog();
    let r = run(&all, &CatalogQuery { n: 2, last: None }, 1000, &bob);
    assert_eq!(names(&r), ["org/app0", "org/app1"]);
    assert_eq!(
        r.header("link").unwrap(),
        "</v2/_catalog?last=org%2Fapp1&n=2>; rel=\"next\""
    );
    // Exactly all visible names in one page: no Link.
    let r = run(&all, &CatalogQuery { n: 8, last: None }, 1000, &bob);
    assert_eq!(names(&r).len(), 8);
    assert!(r.header("link").is_none());
    let r = run(&all, &CatalogQuery { n: 0, last: None }, 1000, &bob);
    assert!(names(&r).is_empty() && r.header("link").is_none());
}

#[test]
fn the_scan_is_bounded_and_resumes_from_its_position() {
    // 10_000 hidden names before the only visible one: one request reads at most
    // MAX_ORIGIN_PAGES pages, answers what it found (nothing) and links onward.
    let mut all: Vec<String> = (0..10_000).map(|i| format!("a/h{i:05}")).collect();
    all.push("org/app".into());
    let mut scan = CatalogScan::new(&CatalogQuery { n: 5, last: None });
    while let Some(oq) = scan.next_origin_query() {
        let (body, more) = origin(&all, &oq, ORIGIN_PAGE_N);
        scan.feed(&body, more, bob).unwrap();
    }
    assert_eq!(scan.pages_read(), MAX_ORIGIN_PAGES);
    let r = scan.response();
    assert!(names(&r).is_empty());
    let last = next_last(&r).unwrap();
    assert_eq!(
        last,
        format!("a/h{:05}", MAX_ORIGIN_PAGES * ORIGIN_PAGE_N - 1)
    );
    let r = run(
        &all,
        &CatalogQuery {
            n: 5,
            last: Some(last),
        },
        ORIGIN_PAGE_N,
        &bob,
    );
    assert_eq!(names(&r), ["org/app"]);
}

#[test]
fn bad_queries_and_bad_origin_pages() {
    assert_eq!(parse_query("n=1001").unwrap_err().status, 400);
    assert_eq!(parse_query("n=-1").unwrap_err().status, 400);
    assert_eq!(parse_query("n=x").unwrap_err().status, 400);
    let q = parse_query("n=5&last=org%2Fa").unwrap();
    assert_eq!((q.n, q.last.as_deref()), (5, Some("org/a")));
    assert_eq!(parse_query("").unwrap().n, MAX_CATALOG_N);
    let mut scan = CatalogScan::new(&parse_query("").unwrap());
    assert!(scan.feed(b"<html>", false, bob).is_err());
    assert!(scan
        .feed(&vec![b' '; MAX_ORIGIN_PAGE_BYTES + 1], false, bob)
        .is_err());
    // An origin that ignores `last` and repeats itself ends the scan instead of looping.
    let mut scan = CatalogScan::new(&CatalogQuery {
        n: 5,
        last: Some("org/b".into()),
    });
    let body = serde_json::to_vec(&json!({"repositories": ["org/a", "org/b"]})).unwrap();
    scan.feed(&body, true, bob).unwrap();
    assert!(scan.next_origin_query().is_none());
    assert!(names(&scan.response()).is_empty());
}
