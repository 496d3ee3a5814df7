//! Numbers keyframed per frame (issue 14, item 3): an animation's `clip-guidance-scale`,
//! `eta`, `frames-skip-steps`, … follow their keyframes frame by frame; an edit re-renders
//! exactly the frames whose values change (and the chain after them), and says why.

use crate::engine::{ANIMATION, Scenario, frames};

fn keyed(line: &str) -> String {
    ANIMATION.replace("max-frames 10", &format!("max-frames 10\n    {line}"))
}

#[test]
fn keyframes_holding_one_value_keep_every_key() {
    // writing a constant as keyframes is that constant: nothing re-renders
    let mut s = Scenario::new(&keyed("clip-guidance-scale 5000"));
    s.build();
    s.edit(
        "clip-guidance-scale 5000",
        "clip-guidance-scale \"0: (5000), 9: (5000)\"",
    );
    let (rendered, reasons) = s.build();
    assert!(rendered.is_empty(), "re-rendered {rendered:?}: {reasons:?}");
}

#[test]
fn editing_a_guidance_keyframe_rerenders_from_the_first_frame_it_changes() {
    let mut s = Scenario::new(&keyed(
        "clip-guidance-scale \"0: (5000), 6: (5000), 9: (8000)\"",
    ));
    let (first, _) = s.build();
    assert_eq!(first.len(), 12);
    s.edit("9: (8000)", "9: (11000)");
    let (rendered, reasons) = s.build();
    // linear: frames 0-6 hold 5000; 7, 8, 9 move (6000 → 7000, 7000 → 9000, 8000 → 11000)
    assert_eq!(rendered, frames(7..10));
    assert_eq!(
        reasons["film frame 7"],
        "clip-guidance-scale 6000.0 → 7000.0"
    );
    assert_eq!(
        reasons["film frame 9"],
        "clip-guidance-scale 8000.0 → 11000.0"
    );
}

#[test]
fn keyframed_skip_steps_and_eta_reach_each_frame() {
    let mut s = Scenario::new(&keyed(
        "frames-skip-steps \"0: (.5), 9: (.5)\"\n    eta \"0: (0.8)\"",
    ));
    s.build();
    // frame 5 onwards skip fewer steps; eta changes from frame 8 on (cubic would bend
    // every frame: linear keeps the edit local)
    s.edit("9: (.5)\"", "4: (.5), 5: (.2)\"");
    s.edit("eta \"0: (0.8)\"", "eta \"0: (0.8), 7: (0.8), 8: (0.5)\"");
    let (rendered, reasons) = s.build();
    assert_eq!(rendered, frames(5..10));
    assert!(
        reasons["film frame 5"].contains("skip-steps 5 → 2"),
        "{:?}",
        reasons["film frame 5"]
    );
    assert!(
        reasons["film frame 8"].contains("eta"),
        "{:?}",
        reasons["film frame 8"]
    );
}
