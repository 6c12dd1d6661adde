//! Starts the suite-wide Garage server for `scripts/test.sh`: state in the directory given as
//! the first argument, the server left running (its PID in `<dir>/garage.pid`), and the
//! `BERTH_IT_S3_*` variables printed as `export` lines for the script to evaluate.

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: berth-it-garage <state dir>");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let _ = std::fs::remove_dir_all(&dir);
    let g = berth_testkit::s3::Garage::start_in(&dir);
    println!("export BERTH_IT_S3_ENDPOINT={}", g.endpoint);
    println!("export BERTH_IT_S3_BUCKET={}", berth_testkit::s3::BUCKET);
    let pid = g.detach();
    eprintln!("garage running (pid {pid}) in {}", dir.display());
}
