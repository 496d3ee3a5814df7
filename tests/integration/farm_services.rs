//! A real render farm for `farm.rs`, started by the test and stopped when it ends: a
//! single-node Slurm (munged, slurmctld, slurmd, all as root in the foreground, with a
//! generated `slurm.conf` in a temporary directory; no systemd) and an nginx WebDAV cache on
//! 127.0.0.1 whose reads are open and whose writes need basic auth. `scripts/setup.sh`
//! installs them (Debian's slurmctld, slurmd, slurm-client, munge, nginx-light,
//! apache2-utils).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set to 1 to skip the farm test where its prerequisites are missing (never in CI).
pub const SKIP_ENV: &str = "DISCO_SKIP_FARM_TEST";
/// The cache's writer (basic auth).
pub const USER: &str = "farm";
/// Its password.
pub const PASSWORD: &str = "hunter2-farm";

/// Why this machine cannot run the farm test, if it cannot.
pub fn missing_prerequisites() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail
    if unsafe { libc::geteuid() } != 0 {
        return Some("it must run as root (slurmd and munged run as root here)".into());
    }
    let tools = [
        "munged",
        "slurmctld",
        "slurmd",
        "sbatch",
        "scontrol",
        "nginx",
        "htpasswd",
    ];
    let missing: Vec<_> = tools.iter().filter(|t| which(t).is_none()).collect();
    if !missing.is_empty() {
        return Some(format!("{missing:?} not found"));
    }
    let v = Command::new(which("nginx")?).arg("-V").output().ok()?;
    (!String::from_utf8_lossy(&v.stderr).contains("http_dav_module"))
        .then(|| "nginx has no WebDAV module (install nginx-light)".into())
}

/// The path of program `name` (PATH, then the sbin folders PATH may lack).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A free TCP port on 127.0.0.1 (bound, then released for the service to take).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Waits until `ready` holds, or panics naming `what` and the log to read.
fn wait_for(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > Duration::from_secs(30) {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} did not start in 30 s; {}:\n{text}", log.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Child processes killed (and reaped) when this drops, last started first.
#[derive(Default)]
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            // SAFETY: signalling our own child by its id
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        for c in self.0.iter_mut().rev() {
            let _ = c.wait();
        }
    }
}

/// nginx serving a cache at `url`, its files under `root`.
pub struct Nginx {
    _children: Children,
    /// `http://127.0.0.1:PORT/cache`.
    pub url: String,
    /// The folder behind the URL (`ac/`, `cas/`).
    pub root: PathBuf,
}

impl Nginx {
    /// Starts nginx in `dir`.
    pub fn start(dir: &Path) -> Nginx {
        let port = free_port();
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("cache")).unwrap();
        std::fs::create_dir_all(dir.join("body")).unwrap();
        let htpasswd = dir.join("htpasswd");
        let ok = Command::new(which("htpasswd").unwrap())
            .args(["-b", "-c", "-B"])
            .arg(&htpasswd)
            .args([USER, PASSWORD])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "htpasswd");
        let conf = dir.join("nginx.conf");
        let text = NGINX_CONF
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string());
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(which("nginx").unwrap())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Nginx {
            _children: Children(vec![child]),
            url: format!("http://127.0.0.1:{port}/cache"),
            root: www.join("cache"),
        };
        let addr = format!("127.0.0.1:{port}");
        wait_for("nginx", &dir.join("error.log"), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        nginx
    }
}

/// The writable cache: anyone reads, writes need the password, and an `ac/` entry that
/// exists is never replaced by a PUT with `If-None-Match: *` (412): the first record wins.
/// (The check sits at server level: inside the location, `limit_except` would take PUTs
/// past its `if`s.)
const NGINX_CONF: &str = r#"
daemon off;
master_process off;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log;
events { worker_connections 256; }
http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/body;
    client_max_body_size 1g;
    map "$request_method:$http_if_none_match:$uri" $disco_create {
        "~^PUT:\*:/cache/ac/" "c";
        default "";
    }
    server {
        listen 127.0.0.1:@PORT@;
        root @DIR@/www;
        set $disco_taken $disco_create;
        if (-f $request_filename) { set $disco_taken "${disco_taken}e"; }
        if ($disco_taken = ce) { return 412; }
        location /cache/ {
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            limit_except GET HEAD { auth_basic "disco cache"; auth_basic_user_file @DIR@/htpasswd; }
        }
    }
}
"#;

/// A single-node Slurm cluster: `sbatch` and `scontrol` find it through `SLURM_CONF`.
pub struct Slurm {
    _children: Children,
    /// The generated `slurm.conf`.
    pub conf: PathBuf,
}

impl Slurm {
    /// Starts munged, slurmctld and slurmd in `dir`.
    pub fn start(dir: &Path) -> Slurm {
        let munge = dir.join("munge");
        for d in ["munge", "state", "spool"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let key: Vec<u8> = (0..1024).map(|_| rand::random::<u8>()).collect();
        write_private(&munge.join("key"), &key);
        let mut children = Children::default();
        let socket = munge.join("sock");
        children.0.push(spawn(
            Command::new(which("munged").unwrap())
                .args(["--foreground", "--force"])
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--key-file={}", munge.join("key").display()))
                .arg(format!("--pid-file={}", munge.join("pid").display()))
                .arg(format!("--log-file={}", munge.join("log").display()))
                .arg(format!("--seed-file={}", munge.join("seed").display())),
        ));
        wait_for("munged", &munge.join("log"), || socket.exists());
        let conf = dir.join("slurm.conf");
        std::fs::write(&conf, slurm_conf(dir, &hostname(), &socket)).unwrap();
        for daemon in ["slurmctld", "slurmd"] {
            let mut c = Command::new(which(daemon).unwrap());
            c.arg("-D").arg("-f").arg(&conf).env("SLURM_CONF", &conf);
            if daemon == "slurmctld" {
                c.arg("-i");
            }
            children.0.push(spawn(&mut c));
        }
        let slurm = Slurm {
            _children: children,
            conf,
        };
        wait_for("slurmd", &dir.join("slurmd.log"), || {
            let out = slurm.command("sinfo").args(["-h", "-o", "%t"]).output();
            out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
        slurm
    }

    /// A Slurm client command for this cluster.
    pub fn command(&self, name: &str) -> Command {
        let mut c = Command::new(which(name).unwrap_or_else(|| name.into()));
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// Submits with `sbatch --parsable ARGS`; returns the job id.
    pub fn sbatch(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self
            .command("sbatch")
            .arg("--parsable")
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let (stdout, stderr) = crate::support::text(&out);
        assert!(out.status.success(), "sbatch {args:?}: {stderr}");
        stdout.trim().to_owned()
    }

    /// The state of each job (array task) of `id`, as `scontrol` shows them
    /// (`COMPLETED`, `FAILED`…), once none is pending or running.
    pub fn wait(&self, id: &str, timeout: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let out = self.command("scontrol").args(["show", "job", id]).output();
            let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            let states: Vec<String> = text
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("JobState="))
                .map(str::to_owned)
                .collect();
            let busy = |s: &String| {
                ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING"].contains(&s.as_str())
            };
            if !states.is_empty() && !states.iter().any(busy) {
                return states;
            }
            assert!(
                start.elapsed() < timeout,
                "job {id} still {states:?} after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn spawn(c: &mut Command) -> Child {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn hostname() -> String {
    let out = Command::new("hostname").arg("-s").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// One node (this machine, as 127.0.0.1) that runs jobs side by side however many cores
/// it has: no cgroups, no accounting, every path in `dir`.
fn slurm_conf(dir: &Path, host: &str, munge: &Path) -> String {
    let d = dir.display();
    let (ctld, slurmd) = (free_port(), free_port());
    format!(
        "ClusterName=disco-test\n\
         SlurmctldHost={host}(127.0.0.1)\n\
         SlurmUser=root\nSlurmdUser=root\n\
         SlurmctldPort={ctld}\nSlurmdPort={slurmd}\n\
         AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={m}\n\
         StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
         SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
         SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
         ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
         JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
         SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
         ReturnToService=2\nMpiDefault=none\nMinJobAge=600\n\
         NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
         PartitionName=farm Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4\n",
        m = munge.display(),
        cpus = std::thread::available_parallelism().map_or(1, |n| n.get()),
    )
}
