//! The watcher over real folders and real writes. Every wait is on the channel with a
//! generous timeout; "nothing was reported" is shown by a real change made afterwards (in
//! another site) arriving alone in its batch.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::{SiteWatcher, WatchSpec};

/// A sites folder with sites made like real ones: code, a `site.toml`, a static root
/// `public/` and a data folder `data/`, the last two ignored.
struct Sites {
    root: tempfile::TempDir,
}

impl Sites {
    fn new(names: &[&str]) -> Sites {
        let sites = Sites {
            root: tempfile::tempdir().unwrap(),
        };
        for name in names {
            sites.write(
                &format!("{name}/site.toml"),
                "server_names = [\"x.test\"]\n",
            );
            sites.write(&format!("{name}/app.py"), "application = None\n");
            sites.write(&format!("{name}/pkg/util.py"), "X = 1\n");
            sites.write(&format!("{name}/public/index.html"), "hi\n");
            sites.write(&format!("{name}/data/app.db"), "db");
        }
        sites
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn spec(&self, name: &str) -> WatchSpec {
        WatchSpec {
            site: name.into(),
            dir: self.path(name),
            ignore: vec![self.path(&format!("{name}/public")), PathBuf::from("data")],
        }
    }

    fn watch(&self, names: &[&str]) -> (SiteWatcher, UnboundedReceiver<Vec<String>>) {
        let specs: Vec<WatchSpec> = names.iter().map(|n| self.spec(n)).collect();
        let (sender, receiver) = unbounded_channel();
        (SiteWatcher::start(&specs, sender).unwrap(), receiver)
    }
}

/// The next batch (panics after a minute without one).
async fn batch(changes: &mut UnboundedReceiver<Vec<String>>) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(60), changes.recv())
        .await
        .expect("a batch of changed sites")
        .expect("the watcher is running")
}

#[tokio::test]
async fn watch_reports_a_python_write() {
    let sites = Sites::new(&["blog"]);
    let (_watcher, mut changes) = sites.watch(&["blog"]);
    sites.write("blog/app.py", "application = 1\n");
    assert_eq!(batch(&mut changes).await, ["blog"]);
    sites.write("blog/pkg/util.py", "X = 2\n");
    assert_eq!(batch(&mut changes).await, ["blog"]);
}

#[tokio::test]
async fn watch_ignores_data_static_caches_dotfiles_editor_files_and_site_toml() {
    let sites = Sites::new(&["quiet", "other"]);
    let (_watcher, mut changes) = sites.watch(&["quiet", "other"]);
    // The data folder as sqlite uses it: the database, its journal, its lock folder.
    sites.write("quiet/data/app.db", "rows");
    sites.write("quiet/data/app.db-journal", "journal");
    fs::create_dir(sites.path("quiet/data/app.db.lock")).unwrap();
    fs::remove_dir(sites.path("quiet/data/app.db.lock")).unwrap();
    fs::remove_file(sites.path("quiet/data/app.db-journal")).unwrap();
    // The static root, new folders in it included.
    sites.write("quiet/public/index.html", "new page\n");
    sites.write("quiet/public/css/site.css", "body {}\n");
    // Byte-code caches, dot-files and dot-folders.
    sites.write("quiet/__pycache__/app.cpython-314.pyc", "pyc");
    sites.write("quiet/pkg/__pycache__/util.cpython-314.pyc", "pyc");
    sites.write("quiet/stale.pyc", "pyc");
    sites.write("quiet/.env", "SECRET=1\n");
    sites.write("quiet/.git/objects/ab/cdef", "object");
    // Editors: vim's swap file and write test, backups, emacs autosaves, JetBrains.
    sites.write("quiet/.app.py.swp", "swap");
    sites.write("quiet/4913", "");
    fs::remove_file(sites.path("quiet/4913")).unwrap();
    sites.write("quiet/app.py~", "backup");
    sites.write("quiet/#app.py#", "autosave");
    sites.write("quiet/app.py___jb_tmp___", "tmp");
    // The configuration: applied on SIGHUP, not on save.
    sites.write("quiet/site.toml", "server_names = [\"y.test\"]\n");
    // Reading the code (as a build does) is no change either.
    fs::read(sites.path("quiet/app.py")).unwrap();
    fs::read_dir(sites.path("quiet/pkg"))
        .unwrap()
        .for_each(drop);

    sites.write("other/app.py", "application = 2\n");
    assert_eq!(batch(&mut changes).await, ["other"]);
}

#[tokio::test]
async fn watch_reports_two_sites_separately() {
    let sites = Sites::new(&["one", "two"]);
    let (_watcher, mut changes) = sites.watch(&["one", "two"]);
    sites.write("one/app.py", "application = 1\n");
    assert_eq!(batch(&mut changes).await, ["one"]);
    sites.write("two/pkg/util.py", "X = 2\n");
    assert_eq!(batch(&mut changes).await, ["two"]);
    sites.write("two/app.py", "application = 2\n");
    sites.write("one/pkg/util.py", "X = 3\n");
    assert_eq!(batch(&mut changes).await, ["one", "two"]);
}

#[tokio::test]
async fn watch_burst_of_writes_is_one_batch() {
    let sites = Sites::new(&["busy", "other"]);
    let (_watcher, mut changes) = sites.watch(&["busy", "other"]);
    for i in 0..50 {
        // New files, rewrites of one file, and a new folder, as a checkout does.
        sites.write(&format!("busy/gen/mod{}.py", i % 10), &format!("N = {i}\n"));
        sites.write("busy/app.py", &format!("application = {i}\n"));
    }
    assert_eq!(batch(&mut changes).await, ["busy"]);
    // No second batch for the burst: the next one is another site's alone.
    sites.write("other/app.py", "application = 2\n");
    assert_eq!(batch(&mut changes).await, ["other"]);
}

#[tokio::test]
async fn watch_follows_new_and_renamed_folders() {
    let sites = Sites::new(&["grow"]);
    let (_watcher, mut changes) = sites.watch(&["grow"]);
    fs::create_dir(sites.path("grow/views")).unwrap();
    assert_eq!(batch(&mut changes).await, ["grow"]);
    // The batch went out after the folder got its watch: a file written in it now is seen.
    sites.write("grow/views/home.py", "HOME = 1\n");
    assert_eq!(batch(&mut changes).await, ["grow"]);
    fs::rename(sites.path("grow/views"), sites.path("grow/pages")).unwrap();
    assert_eq!(batch(&mut changes).await, ["grow"]);
    sites.write("grow/pages/home.py", "HOME = 2\n");
    assert_eq!(batch(&mut changes).await, ["grow"]);
}

#[tokio::test]
async fn watch_survives_a_deleted_site_folder() {
    let sites = Sites::new(&["gone", "other"]);
    let (_watcher, mut changes) = sites.watch(&["gone", "other"]);
    fs::remove_dir_all(sites.path("gone")).unwrap();
    assert_eq!(batch(&mut changes).await, ["gone"]);
    // Still running, and not reporting the deleted site again.
    sites.write("other/app.py", "application = 2\n");
    assert_eq!(batch(&mut changes).await, ["other"]);
}

#[tokio::test]
async fn watch_drops_a_renamed_site_folder() {
    let sites = Sites::new(&["moved", "other"]);
    let (_watcher, mut changes) = sites.watch(&["moved", "other"]);
    fs::rename(sites.path("moved"), sites.path("moved-old")).unwrap();
    assert_eq!(batch(&mut changes).await, ["moved"]);
    // The folder's watches went with it: writes where it went are not the site's.
    sites.write("moved-old/app.py", "application = 3\n");
    sites.write("moved-old/pkg/util.py", "X = 3\n");
    sites.write("other/app.py", "application = 2\n");
    assert_eq!(batch(&mut changes).await, ["other"]);
}

#[tokio::test]
async fn watch_stops_when_dropped() {
    let sites = Sites::new(&["blog"]);
    let (watcher, mut changes) = sites.watch(&["blog"]);
    drop(watcher);
    assert_eq!(changes.recv().await, None, "the watcher's thread has ended");
}

/// A real inotify watcher that refuses watches past `left`, as the kernel does at
/// `fs.inotify.max_user_watches`.
struct Limited {
    inner: notify::RecommendedWatcher,
    left: usize,
}

impl Watcher for Limited {
    fn new<F: notify::EventHandler>(handler: F, config: notify::Config) -> notify::Result<Self> {
        Ok(Limited {
            inner: notify::RecommendedWatcher::new(handler, config)?,
            left: usize::MAX,
        })
    }

    fn watch(&mut self, path: &Path, mode: RecursiveMode) -> notify::Result<()> {
        if self.left == 0 {
            return Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch));
        }
        self.left -= 1;
        self.inner.watch(path, mode)
    }

    fn unwatch(&mut self, path: &Path) -> notify::Result<()> {
        self.inner.unwatch(path)
    }

    fn kind() -> notify::WatcherKind {
        notify::WatcherKind::Inotify
    }
}

#[tokio::test]
async fn watch_limit_keeps_the_folders_already_watched() {
    let sites = Sites::new(&["first", "second"]);
    let specs = [sites.spec("first"), sites.spec("second")];
    let (sender, mut changes) = unbounded_channel();
    // Room for the first site's two folders (itself and pkg/) only.
    let _watcher = SiteWatcher::start_with(&specs, sender, |handler| {
        let mut watcher = Limited::new(handler, notify::Config::default())?;
        watcher.left = 2;
        Ok(Box::new(watcher) as Box<dyn Watcher + Send>)
    })
    .unwrap();
    sites.write("second/app.py", "application = 2\n");
    sites.write("first/pkg/util.py", "X = 2\n");
    assert_eq!(batch(&mut changes).await, ["first"]);
    // New folders get no watch past the limit, and nothing breaks.
    fs::create_dir(sites.path("first/more")).unwrap();
    assert_eq!(batch(&mut changes).await, ["first"]);
    sites.write("first/app.py", "application = 1\n");
    assert_eq!(batch(&mut changes).await, ["first"]);
}

#[test]
fn watch_switch_is_read_from_site_toml() {
    let sites = Sites::new(&[]);
    for (name, line) in [
        ("bad", "watch = \"yes\"\n"),
        ("default", ""),
        ("off", "watch = false\n"),
        ("on", "watch = true\n"),
    ] {
        sites.write(
            &format!("{name}/site.toml"),
            &format!("server_names = [\"{name}.test\"]\n\n[app]\n{line}"),
        );
        sites.write(&format!("{name}/app.py"), "application = None\n");
    }
    let (loaded, errors, _) = crate::config::load_sites(
        sites.root.path(),
        &Default::default(),
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let watch: Vec<(&str, bool)> = loaded
        .iter()
        .map(|site| (site.name.as_str(), site.app.as_ref().unwrap().watch))
        .collect();
    assert_eq!(watch, [("default", true), ("off", false), ("on", true)]);
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("bad/site.toml")
            && errors[0].contains("`app.watch`")
            && errors[0].contains("\"yes\""),
        "{}",
        errors[0]
    );
}
