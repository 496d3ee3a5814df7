//! The http backend against a tiny in-process server that keeps what is PUT in memory,
//! logs every request and, like a careful server, honours `If-None-Match: *` (or not).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::*;
use crate::{CacheMode, LayeredObjects, MemoryObjects, ObjectName, ObjectStore};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    if_none_match: bool,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    log: Vec<Seen>,
    /// A racing writer: the next PUT to this path lands, then this body replaces it.
    race: Option<(String, Vec<u8>)>,
}

struct Server {
    server: Arc<tiny_http::Server>,
    state: Arc<Mutex<State>>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

impl Server {
    /// Serves `/cache/…`; `password` guards every request; `conditional` keeps
    /// `If-None-Match: *`.
    fn start(password: Option<&'static str>, conditional: bool) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let (s, st) = (server.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                serve(req, &st, password, conditional);
            }
        });
        Server {
            server,
            state,
            thread: Some(thread),
            url: format!("http://127.0.0.1:{port}/cache"),
        }
    }

    fn log(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.state.lock().unwrap().files.get(path).cloned()
    }

    fn set(&self, path: &str, bytes: &[u8]) {
        let mut st = self.state.lock().unwrap();
        st.files.insert(path.to_owned(), bytes.to_vec());
    }

    fn paths(&self) -> Vec<String> {
        let mut p: Vec<_> = self.state.lock().unwrap().files.keys().cloned().collect();
        p.sort();
        p
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn serve(
    mut req: tiny_http::Request,
    state: &Mutex<State>,
    password: Option<&str>,
    conditional: bool,
) {
    let header = |name: &str| {
        req.headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
    };
    let seen = Seen {
        method: req.method().as_str().to_owned(),
        path: req.url().to_owned(),
        authorization: header("Authorization"),
        if_none_match: header("If-None-Match").as_deref() == Some("*"),
    };
    let mut body = Vec::new();
    req.as_reader().read_to_end(&mut body).unwrap();
    let mut st = state.lock().unwrap();
    st.log.push(seen.clone());
    let allowed = password.is_none_or(|p| seen.authorization == Some(auth::basic("farm", p)));
    let status = match (seen.method.as_str(), allowed) {
        (_, false) => 401,
        ("PUT", _) if conditional && seen.if_none_match && st.files.contains_key(&seen.path) => 412,
        ("PUT", _) => {
            let raced = st.race.take_if(|(p, _)| *p == seen.path);
            st.files
                .insert(seen.path.clone(), raced.map_or(body, |(_, b)| b));
            201
        }
        ("GET", _) => match st.files.get(&seen.path) {
            Some(b) => {
                let data = b.clone();
                drop(st);
                req.respond(tiny_http::Response::from_data(data)).unwrap();
                return;
            }
            None => 404,
        },
        ("HEAD", _) if st.files.contains_key(&seen.path) => 200,
        _ => 404,
    };
    drop(st);
    let _ = req.respond(tiny_http::Response::empty(status));
}

use crate::layered::tests::record;

fn worker(cache: HttpCache, mode: CacheMode) -> LayeredObjects {
    LayeredObjects::new(Arc::new(MemoryObjects::new()), Arc::new(cache), mode)
}

fn farm(server: &Server, mode: CacheMode) -> LayeredObjects {
    let auth = Some(auth::basic("farm", "pw"));
    worker(HttpCache::with_authorization(&server.url, auth), mode)
}

fn store_job(w: &LayeredObjects, key: Key, png: &[u8]) -> io::Result<()> {
    w.put(&ObjectName::Image(key), png)?;
    w.put(&ObjectName::Record(key), &record(key, png))
}

#[test]
fn a_job_is_blobs_under_cas_and_an_entry_under_ac_and_comes_back_whole() {
    let server = Server::start(Some("pw"), true);
    let key = Key([1; 32]);
    store_job(&farm(&server, CacheMode::ReadWrite), key, b"png").unwrap();
    let entry: AcEntry =
        serde_json::from_slice(&server.file(&format!("/cache/ac/{key}")).unwrap()).unwrap();
    let image = entry.image.unwrap();
    assert_eq!(image, sha256_hex(b"png"));
    assert_eq!(server.file(&format!("/cache/cas/{image}")).unwrap(), b"png");
    // blobs first, the entry last
    let puts: Vec<_> = server
        .log()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    assert!(
        puts.last().unwrap().path.starts_with("/cache/ac/"),
        "{puts:?}"
    );
    assert!(puts.last().unwrap().if_none_match, "a conditional create");
    let reader = farm(&server, CacheMode::Read);
    assert!(reader.contains(&ObjectName::Record(key)));
    assert_eq!(
        reader.get(&ObjectName::Image(key)).unwrap().unwrap(),
        b"png"
    );
}

#[test]
fn the_authorization_header_goes_with_every_request_and_a_refusal_names_the_url() {
    let server = Server::start(Some("pw"), true);
    store_job(&farm(&server, CacheMode::ReadWrite), Key([2; 32]), b"png").unwrap();
    let log = server.log();
    assert!(!log.is_empty());
    assert!(
        log.iter()
            .all(|s| s.authorization == Some(auth::basic("farm", "pw")))
    );
    let anonymous = worker(
        HttpCache::with_authorization(&server.url, None),
        CacheMode::Write,
    );
    let err = store_job(&anonymous, Key([3; 32]), b"png").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&server.url) && msg.contains("HTTP 401"),
        "{msg}"
    );
    assert!(msg.contains("DISCO_CACHE_USER"), "{msg}");
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
}

#[test]
fn credentials_in_the_url_travel_in_the_header_and_are_never_shown() {
    let server = Server::start(Some("pw"), true);
    let url = server.url.replace("http://", "http://farm:pw@");
    let cache = HttpCache::open(&url).unwrap();
    assert!(!cache.url().contains("pw") && !format!("{cache:?}").contains("pw"));
    store_job(&worker(cache, CacheMode::ReadWrite), Key([4; 32]), b"png").unwrap();
    assert!(server.log().iter().all(|s| !s.path.contains("pw")));
    let bad = url.replace("http://", "htp://");
    let shown = HttpCache::open(&bad).map(drop).unwrap_err().to_string();
    assert!(!shown.contains("pw") && shown.contains("***@"), "{shown}");
}

#[test]
fn read_mode_never_puts() {
    let server = Server::start(None, true);
    store_job(&farm(&server, CacheMode::Read), Key([5; 32]), b"png").unwrap();
    let reader = farm(&server, CacheMode::Read);
    reader
        .put(&ObjectName::Inputs(Key([6; 32])), b"{}")
        .unwrap();
    assert!(!reader.contains(&ObjectName::Record(Key([7; 32]))));
    assert!(
        server.log().iter().all(|s| s.method != "PUT"),
        "{:?}",
        server.log()
    );
    assert!(server.paths().is_empty());
}

#[test]
fn a_blob_whose_hash_disagrees_with_its_entry_is_a_miss() {
    let server = Server::start(None, true);
    let key = Key([8; 32]);
    store_job(&farm(&server, CacheMode::ReadWrite), key, b"png").unwrap();
    server.set(&format!("/cache/cas/{}", sha256_hex(b"png")), b"evil");
    let reader = farm(&server, CacheMode::Read);
    assert!(!reader.contains(&ObjectName::Record(key)));
    assert_eq!(reader.get(&ObjectName::Image(key)).unwrap(), None);
    // bytes that hash to their name but are not the record's image are a miss too
    let entry = AcEntry {
        format: AC_FORMAT.into(),
        record: Some(sha256_hex(&record(key, b"png"))),
        image: Some(sha256_hex(b"other")),
        ..AcEntry::default()
    };
    server.set(&format!("/cache/cas/{}", sha256_hex(b"other")), b"other");
    server.set(
        &format!("/cache/ac/{key}"),
        &serde_json::to_vec(&entry).unwrap(),
    );
    assert!(!farm(&server, CacheMode::Read).contains(&ObjectName::Record(key)));
}

#[test]
fn hostile_entries_from_the_server_are_misses() {
    let server = Server::start(None, true);
    let key = Key([11; 32]);
    store_job(&farm(&server, CacheMode::ReadWrite), key, b"png").unwrap();
    // the sound entry is a hit, so each miss below is the hostile entry's doing
    assert!(farm(&server, CacheMode::Read).contains(&ObjectName::Record(key)));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!("{{\"format\":\"{}\"}}", "x".repeat(8 << 20));
    let newline = format!(
        "{{\"format\":\"{AC_FORMAT}\",\"record\":\"{}\\n{}\"}}",
        "0".repeat(64),
        "0".repeat(64)
    );
    let hostile: [&[u8]; 6] = [
        b"\xff\xfe not json",
        deep.as_bytes(),
        huge.as_bytes(),
        b"{\"format\": NaN}",
        newline.as_bytes(),
        b"",
    ];
    for body in hostile {
        server.set(&format!("/cache/ac/{key}"), body);
        let reader = farm(&server, CacheMode::Read);
        assert!(!reader.contains(&ObjectName::Record(key)), "{}", body.len());
        assert_eq!(reader.get(&ObjectName::Image(key)).unwrap(), None);
    }
}

#[test]
fn names_from_the_server_that_are_not_64_hex_digits_are_refused_unrequested() {
    let server = Server::start(None, true);
    let key = Key([10; 32]);
    store_job(&farm(&server, CacheMode::ReadWrite), key, b"png").unwrap();
    for bad in ["../../../etc/passwd", &"A".repeat(64), &"0".repeat(63)] {
        let entry = AcEntry {
            format: AC_FORMAT.into(),
            record: Some(sha256_hex(&record(key, b"png"))),
            image: Some(bad.to_owned()),
            ..AcEntry::default()
        };
        server.set(
            &format!("/cache/ac/{key}"),
            &serde_json::to_vec(&entry).unwrap(),
        );
        assert!(!farm(&server, CacheMode::Read).contains(&ObjectName::Record(key)));
        assert!(server.log().iter().all(|s| !s.path.contains(bad)), "{bad}");
    }
}

#[test]
fn the_first_record_wins_and_the_loser_adopts_its_image() {
    for conditional in [true, false] {
        let server = Server::start(None, conditional);
        let key = Key([11; 32]);
        store_job(&farm(&server, CacheMode::ReadWrite), key, b"first").unwrap();
        let loser = farm(&server, CacheMode::ReadWrite);
        store_job(&loser, key, b"second").unwrap();
        assert_eq!(
            loser.get(&ObjectName::Image(key)).unwrap().unwrap(),
            b"first"
        );
        assert_eq!(
            loser.get(&ObjectName::Record(key)).unwrap().unwrap(),
            record(key, b"first")
        );
    }
    // a server that lets a racing writer's entry replace ours after our PUT: the read-back
    // sees it, and this worker reports the race lost
    let server = Server::start(None, false);
    let cache = HttpCache::with_authorization(&server.url, None);
    let key = Key([12; 32]);
    let entry = |png: &[u8]| AcEntry {
        format: AC_FORMAT.into(),
        image: Some(sha256_hex(png)),
        ..AcEntry::default()
    };
    assert!(cache.create_entry(&key, &entry(b"a")).unwrap());
    let key = Key([13; 32]);
    let theirs = serde_json::to_vec(&entry(b"b")).unwrap();
    server.state.lock().unwrap().race = Some((format!("/cache/ac/{key}"), theirs));
    assert!(
        !cache.create_entry(&key, &entry(b"a")).unwrap(),
        "held, not ours"
    );
}

#[test]
fn a_worker_killed_between_its_blobs_and_its_entry_leaves_a_miss() {
    let server = Server::start(None, true);
    let key = Key([16; 32]);
    let cache = HttpCache::with_authorization(&server.url, None);
    cache.put_blob(b"png").unwrap();
    cache.put_blob(&record(key, b"png")).unwrap();
    assert!(!farm(&server, CacheMode::ReadWrite).contains(&ObjectName::Record(key)));
    store_job(&farm(&server, CacheMode::ReadWrite), key, b"png").unwrap();
    assert!(farm(&server, CacheMode::Read).contains(&ObjectName::Record(key)));
}

#[test]
fn shared_inputs_travel_by_digest() {
    let server = Server::start(None, true);
    let digest = Key([14; 32]);
    farm(&server, CacheMode::ReadWrite)
        .put(&ObjectName::Inputs(digest), b"{\"inputs\":1}")
        .unwrap();
    let reader = farm(&server, CacheMode::Read);
    assert_eq!(
        reader.get(&ObjectName::Inputs(digest)).unwrap().unwrap(),
        b"{\"inputs\":1}"
    );
    let paths = server.paths();
    assert!(paths.contains(&format!("/cache/ac/{digest}")), "{paths:?}");
}

#[test]
fn an_unreachable_server_is_an_error_naming_it() {
    // a port nothing listens on (bound, then closed)
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/c");
    let cache = HttpCache::with_authorization(&url, None);
    let err = cache.get_job(&Key([15; 32])).unwrap_err().to_string();
    assert!(err.starts_with(&format!("GET {url}/ac/")), "{err}");
}

#[test]
fn a_turbo_jobs_second_images_travel_as_blobs_its_entry_names() {
    use crate::Aux;
    use crate::layered::tests::store_turbo_job;
    let server = Server::start(None, true);
    let key = Key([16; 32]);
    store_turbo_job(&farm(&server, CacheMode::ReadWrite), key, b"png");
    let entry: AcEntry =
        serde_json::from_slice(&server.file(&format!("/cache/ac/{key}")).unwrap()).unwrap();
    assert_eq!(entry.aux["next"], sha256_hex(b"next"));
    assert_eq!(entry.aux["old"], sha256_hex(b"old"));
    let reader = farm(&server, CacheMode::Read);
    assert!(reader.contains(&ObjectName::Aux(key, Aux::Next)));
    assert_eq!(
        reader
            .get(&ObjectName::Aux(key, Aux::Old))
            .unwrap()
            .unwrap(),
        b"old"
    );
    // a second image gone from the server makes the job a miss
    server.set(&format!("/cache/cas/{}", sha256_hex(b"next")), b"evil");
    assert!(!farm(&server, CacheMode::Read).contains(&ObjectName::Record(key)));
}

#[test]
fn an_eye_view_travels_under_an_entry_of_its_own_beside_its_inputs() {
    use crate::Aux;
    let server = Server::start(None, true);
    let view = Key([17; 32]);
    let eye = ObjectName::Aux(view, Aux::Eye);
    let maker = farm(&server, CacheMode::ReadWrite);
    maker.put(&ObjectName::Inputs(view), b"{}").unwrap();
    maker.put(&eye, b"view").unwrap();
    let reader = farm(&server, CacheMode::Read);
    assert!(reader.contains(&eye));
    assert_eq!(reader.get(&eye).unwrap().unwrap(), b"view");
    assert_eq!(
        reader.get(&ObjectName::Inputs(view)).unwrap().unwrap(),
        b"{}"
    );
    server.set(&format!("/cache/cas/{}", sha256_hex(b"view")), b"evil");
    let late = farm(&server, CacheMode::Read);
    assert!(!late.contains(&eye));
}
