//! DD's 3D warp kernel against goldens from a float64 PyTorch re-implementation of
//! `transform_image_3d` (`tests/golden-gen/warp3d_golden.py`, fixtures in
//! `tests/fixtures/anim3d/`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use disco::anim::warp3d::{Camera, Padding, Pose, Sampling, sampling_grid, transform_image_3d};
use ndarray::{Array2, Array3};
use serde_json::Value;

use crate::support::root;

/// ‖a − b‖/‖b‖ and max |a − b| the kernel must meet (the goldens are float64; the kernel's
/// output is f32, whose rounding is ~6e-8 relative).
const TOL: f64 = 1e-5;

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/anim3d")
}

/// Reads `n` little-endian numbers of `size` bytes from `bytes` at `*at`, advancing `*at`.
fn take<T>(bytes: &[u8], at: &mut usize, n: usize, size: usize, f: fn(&[u8]) -> T) -> Vec<T> {
    let end = *at + n * size;
    assert!(end <= bytes.len(), "fixture too short");
    let out = bytes[*at..end].chunks_exact(size).map(f).collect();
    *at = end;
    out
}

fn f32s(bytes: &[u8], at: &mut usize, n: usize) -> Vec<f32> {
    take(bytes, at, n, 4, |b| {
        f32::from_le_bytes(b.try_into().unwrap())
    })
}

fn f64s(bytes: &[u8], at: &mut usize, n: usize) -> Vec<f64> {
    take(bytes, at, n, 8, |b| {
        f64::from_le_bytes(b.try_into().unwrap())
    })
}

fn floats<const N: usize>(v: &Value) -> [f64; N] {
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), N);
    std::array::from_fn(|i| a[i].as_f64().unwrap())
}

/// (‖a − b‖/‖b‖, max |a − b|).
fn errors(a: impl Iterator<Item = f64>, b: &[f64]) -> (f64, f64) {
    let (mut diff2, mut norm2, mut max) = (0.0f64, 0.0f64, 0.0f64);
    let mut n = 0;
    for (a, b) in a.zip(b) {
        diff2 += (a - b) * (a - b);
        norm2 += b * b;
        max = max.max((a - b).abs());
        n += 1;
    }
    assert_eq!(n, b.len(), "sizes differ");
    (diff2.sqrt() / norm2.sqrt(), max)
}

#[test]
fn warp3d_matches_pytorch_golden() {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let mut modes = BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (c, h, w) = (
            case["channels"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
            case["width"].as_u64().unwrap() as usize,
        );
        let padding: Padding = case["padding_mode"].as_str().unwrap().parse().unwrap();
        let sampling: Sampling = case["sampling_mode"].as_str().unwrap().parse().unwrap();
        modes.insert((padding.as_str(), sampling.as_str()));

        // DD's pose from the keyframe values, as the golden built it
        let pose = Pose::dd(floats(&case["translation"]), floats(&case["rotation_deg"]));
        let want_r: Vec<[f64; 3]> = case["R"].as_array().unwrap().iter().map(floats).collect();
        assert_eq!(want_r.len(), 3, "{name}: R is 3×3");
        let got_r = pose.rotation.iter().flatten();
        for (got, want) in got_r.zip(want_r.iter().flatten()) {
            assert!((got - want).abs() < 1e-15, "{name}: R {got} vs {want}");
        }
        assert_eq!(pose.translation, floats::<3>(&case["T"]), "{name}: T");
        let camera = Camera {
            near: case["near"].as_f64().unwrap(),
            far: case["far"].as_f64().unwrap(),
            fov_deg: case["fov"].as_f64().unwrap(),
        };

        let bytes = std::fs::read(fixtures().join(case["file"].as_str().unwrap())).unwrap();
        let mut at = 0;
        let image = Array3::from_shape_vec((c, h, w), f32s(&bytes, &mut at, c * h * w)).unwrap();
        let depth = Array2::from_shape_vec((h, w), f32s(&bytes, &mut at, h * w)).unwrap();
        let want_grid = f64s(&bytes, &mut at, h * w * 2);
        let want = f64s(&bytes, &mut at, c * h * w);
        assert_eq!(at, bytes.len(), "{name}: trailing bytes");

        let grid = sampling_grid(depth.view(), &pose, &camera);
        let (_, grid_max) = errors(grid.iter().copied(), &want_grid);
        let out = transform_image_3d(
            image.view(),
            depth.view(),
            &pose,
            &camera,
            sampling,
            padding,
        );
        let (rel, max) = errors(out.iter().map(|&v| f64::from(v)), &want);
        println!(
            "{name:<24} {padding:<10} {sampling:<8} {h:>2}x{w:<2} grid max {grid_max:.1e}  \
             image rel {rel:.1e} max {max:.1e}"
        );
        assert!(grid_max < 1e-12, "{name}: grid differs by {grid_max:e}");
        assert!(rel < TOL, "{name}: relative error {rel:e}");
        assert!(max < TOL, "{name}: max abs error {max:e}");
    }
    // every padding × sampling pair is covered
    assert_eq!(modes.len(), 9, "{modes:?}");
}

#[test]
fn warp3d_identity_golden_is_the_shifted_image() {
    // The golden itself: an identity pose gives back image + 1/512 − 0.0001, clamped.
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "identity")
        .unwrap();
    let (h, w) = (
        case["height"].as_u64().unwrap() as usize,
        case["width"].as_u64().unwrap() as usize,
    );
    let bytes = std::fs::read(fixtures().join("identity.bin")).unwrap();
    let mut at = 0;
    let image = f32s(&bytes, &mut at, 3 * h * w);
    let _depth = f32s(&bytes, &mut at, h * w);
    let _grid = f64s(&bytes, &mut at, h * w * 2);
    let want = f64s(&bytes, &mut at, 3 * h * w);
    let shifted = image
        .iter()
        .map(|&v| (f64::from(v) + disco::anim::warp3d::IMAGE_SHIFT).clamp(0.0, 1.0));
    let (_, max) = errors(shifted, &want);
    assert!(max < 1e-12, "identity golden moved pixels by {max:e}");
}

/// DD's VR eye views (`transform_image_3d(…, spherical=True)`) against
/// `tests/golden-gen/vr_golden.py` (fixtures in `tests/fixtures/anim3d/vr/`): the eye's pose,
/// the depth warp's grid, the spherical grid and the view.
#[test]
fn vr_eye_views_match_pytorch_golden() {
    use disco::anim::warp3d::{Eye, eye_pose, spherical_grid, transform_image_3d_spherical};
    let dir = fixtures().join("vr");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let (mut modes, mut eyes) = (BTreeSet::new(), BTreeSet::new());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (c, h, w) = (
            case["channels"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
            case["width"].as_u64().unwrap() as usize,
        );
        let padding: Padding = case["padding_mode"].as_str().unwrap().parse().unwrap();
        let sampling: Sampling = case["sampling_mode"].as_str().unwrap().parse().unwrap();
        modes.insert((padding.as_str(), sampling.as_str()));
        let eye = match case["eye"].as_str().unwrap() {
            "left" => Eye::Left,
            "right" => Eye::Right,
            other => panic!("{name}: eye {other}"),
        };
        eyes.insert(eye);

        let pose = eye_pose(
            eye,
            case["vr_eye_angle"].as_f64().unwrap(),
            case["vr_ipd"].as_f64().unwrap(),
        );
        let want_r: Vec<[f64; 3]> = case["R"].as_array().unwrap().iter().map(floats).collect();
        for (got, want) in pose.rotation.iter().flatten().zip(want_r.iter().flatten()) {
            assert!((got - want).abs() < 1e-15, "{name}: R {got} vs {want}");
        }
        let want_t = floats::<3>(&case["T"]);
        for (got, want) in pose.translation.iter().zip(want_t) {
            assert!((got - want).abs() < 1e-17, "{name}: T {got} vs {want}");
        }
        let camera = Camera {
            near: case["near"].as_f64().unwrap(),
            far: case["far"].as_f64().unwrap(),
            fov_deg: case["fov"].as_f64().unwrap(),
        };

        let bytes = std::fs::read(dir.join(case["file"].as_str().unwrap())).unwrap();
        let mut at = 0;
        let image = Array3::from_shape_vec((c, h, w), f32s(&bytes, &mut at, c * h * w)).unwrap();
        let depth = Array2::from_shape_vec((h, w), f32s(&bytes, &mut at, h * w)).unwrap();
        let want_grid = f64s(&bytes, &mut at, h * w * 2);
        let want_sphere = f64s(&bytes, &mut at, h * w * 2);
        let want = f64s(&bytes, &mut at, c * h * w);
        assert_eq!(at, bytes.len(), "{name}: trailing bytes");

        let (_, grid_max) = errors(
            sampling_grid(depth.view(), &pose, &camera).iter().copied(),
            &want_grid,
        );
        let sphere = spherical_grid(h, w, disco::anim::warp3d::spherical::SPHERICAL_MAGNITUDE);
        let (_, sphere_max) = errors(sphere.iter().copied(), &want_sphere);
        let out = transform_image_3d_spherical(
            image.view(),
            depth.view(),
            &pose,
            &camera,
            sampling,
            padding,
        );
        let (rel, max) = errors(out.iter().map(|&v| f64::from(v)), &want);
        println!(
            "{name:<20} {padding:<10} {sampling:<8} {h:>2}x{w:<2} grid max {grid_max:.1e}  \
             sphere max {sphere_max:.1e}  image rel {rel:.1e} max {max:.1e}"
        );
        assert!(grid_max < 1e-12, "{name}: grid differs by {grid_max:e}");
        assert!(
            sphere_max < 1e-15,
            "{name}: sphere differs by {sphere_max:e}"
        );
        assert!(rel < TOL, "{name}: relative error {rel:e}");
        assert!(max < TOL, "{name}: max abs error {max:e}");
    }
    assert_eq!(modes.len(), 9, "every padding × sampling pair: {modes:?}");
    assert_eq!(eyes.len(), 2, "both eyes");
}
