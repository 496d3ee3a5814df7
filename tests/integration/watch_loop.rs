//! The watch loop in process with its seams faked (STYLE.md rule 17): the engine's fake
//! facts and renderer, a real file system. Asserts which reloads and renders happen.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use disco::build::{BuildEvent, Renderer};
use disco::plan::Facts;
use disco::store::Store;
use disco::watch::{Scope, Seams, Watch, WatchEvent, WatchOptions, WatchOutput};

use crate::engine::{ANIMATION, FakeFacts, FakeRenderer, frames};

struct FakeSeams;

impl Seams for FakeSeams {
    fn with_facts(&self, _: &Store, f: &mut dyn FnMut(&mut dyn Facts)) {
        f(&mut FakeFacts {
            model_hash: "m1".into(),
        });
    }
    fn renderer(&self) -> Box<dyn Renderer> {
        Box::new(FakeRenderer)
    }
}

/// Events until the next `watch-idle`: (reloads with a changed file, jobs rendered).
fn until_idle(rx: &Receiver<WatchOutput>) -> (Vec<Vec<String>>, Vec<String>) {
    let (mut reloads, mut rendered) = (Vec::new(), Vec::new());
    loop {
        match rx
            .recv_timeout(Duration::from_secs(30))
            .expect("watch-idle")
        {
            WatchOutput::Watch(WatchEvent::WatchIdle { .. }) => return (reloads, rendered),
            WatchOutput::Watch(WatchEvent::WatchReload { changed, .. }) if !changed.is_empty() => {
                reloads.push(changed)
            }
            WatchOutput::Build(BuildEvent::JobFinished { job, .. }) => rendered.push(job),
            WatchOutput::Invalid { diagnostics, .. } => panic!("{diagnostics:?}"),
            _ => {}
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// A watch loop on `kdl` in a thread: its events, its interrupter and its handle.
fn start(
    kdl: &Path,
    debounce_ms: u64,
    poll: bool,
) -> (
    Receiver<WatchOutput>,
    impl Fn() + Send + use<>,
    std::thread::JoinHandle<Result<(), disco::watch::WatchError>>,
) {
    let (tx, rx) = channel();
    let watch = Watch::new();
    let stop = watch.interrupter();
    let options = WatchOptions {
        project: kdl.to_path_buf(),
        scope: Scope::default(),
        debounce: Duration::from_millis(debounce_ms),
        poll,
        checkpoint_every: 0,
        holder: "watch_loop test".into(),
    };
    let sink = move |e: &WatchOutput| {
        let _ = tx.send(e.clone());
    };
    let looping =
        std::thread::spawn(move || watch.run(&options, Arc::new(FakeSeams), Box::new(sink)));
    (rx, stop, looping)
}

#[test]
fn several_saves_in_one_debounce_window_reload_once() {
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, ANIMATION).unwrap();
    let (rx, stop, looping) = start(&kdl, 300, false);
    let (_, rendered) = until_idle(&rx);
    assert_eq!(rendered.len(), 12, "{rendered:?}");

    // three saves 20 ms apart: the last one wins, and only it is built
    edit(&kdl, "a blue square", "a green square");
    std::thread::sleep(Duration::from_millis(20));
    edit(&kdl, "a green square", "a grey square");
    std::thread::sleep(Duration::from_millis(20));
    edit(&kdl, "a grey square", "a white square");
    let (reloads, rendered) = until_idle(&rx);
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    assert_eq!(rendered, frames(6..10));

    // the tool's own outputs did not re-trigger it
    std::thread::sleep(Duration::from_millis(800));
    let late: Vec<WatchOutput> = rx.try_iter().collect();
    assert!(
        !late
            .iter()
            .any(|e| matches!(e, WatchOutput::Watch(WatchEvent::WatchReload { .. }))),
        "{late:?}"
    );
    stop();
    looping.join().unwrap().expect("the loop ends cleanly");
    assert!(
        rx.try_iter()
            .any(|e| matches!(e, WatchOutput::Watch(WatchEvent::WatchStopped {}))),
    );
}

#[test]
fn polling_sees_a_save_by_rename_and_renders_what_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, ANIMATION).unwrap();
    let (rx, stop, looping) = start(&kdl, 100, true);
    let (_, rendered) = until_idle(&rx);
    assert_eq!(rendered.len(), 12, "{rendered:?}");
    // mtimes of the poll scan have whole-second resolution on some file systems
    std::thread::sleep(Duration::from_millis(1100));
    let tmp = dir.path().join("disco.kdl.new");
    let text = std::fs::read_to_string(&kdl).unwrap();
    std::fs::write(&tmp, text.replace("n-batches 2", "n-batches 3")).unwrap();
    std::fs::rename(&tmp, &kdl).unwrap();
    let (reloads, rendered) = until_idle(&rx);
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    assert_eq!(rendered, ["still image 2"]);
    stop();
    looping.join().unwrap().expect("the loop ends cleanly");
}
