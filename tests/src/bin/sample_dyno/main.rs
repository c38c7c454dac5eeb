//! The sample app of the dyno runtime tests, packed into a build archive by the tests:
//! - `sample-dyno web`: HTTP on `$PORT`. `/` reports the dyno's view of itself (pid, host name,
//!   environment, visible processes); `/db` connects to `$DATABASE_URL` and reports who it is;
//!   every request is logged to stdout.
//! - `sample-dyno http`: a keep-alive HTTP/1.1 server on `$PORT` for the router's tests and
//!   benchmarks (`http.rs`).
//! - `sample-dyno worker`: prints a tick every 200 ms.
//! - `sample-dyno hog MB`: allocates and touches MB mebibytes, then sleeps.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

mod http;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("web") => web(),
        Some("http") => http::serve(),
        Some("worker") => loop {
            println!("worker tick");
            std::thread::sleep(Duration::from_millis(200));
        },
        Some("hog") => hog(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1024)),
        _ => {
            eprintln!("usage: sample-dyno web|http|worker|hog MB");
            std::process::exit(2);
        }
    }
}

fn hog(mb: usize) {
    println!("allocating {mb} MiB");
    let mut blocks = Vec::new();
    for i in 0..mb {
        // Touch every page so that the memory is really charged.
        blocks.push(vec![i as u8 | 1; 1 << 20]);
    }
    println!("allocated {} MiB", blocks.len());
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn web() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5000);
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {port}: {e}");
            std::process::exit(1);
        }
    };
    println!("web listening on {port}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = handle(stream);
        });
    }
}

fn handle(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    println!("request {path}");
    let body = match path.as_str() {
        "/db" => database(),
        _ => whoami(),
    };
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn whoami() -> serde_json::Value {
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars().map(|(k, v)| (k, v.into())).collect();
    let procs = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
                .count()
        })
        .unwrap_or(0);
    serde_json::json!({
        "pid": std::process::id(),
        "hostname": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        "visible_processes": procs,
        "env": env,
        "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
    })
}

fn database() -> serde_json::Value {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        return serde_json::json!({ "error": "DATABASE_URL is not set" });
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return serde_json::json!({ "error": e.to_string() }),
    };
    rt.block_on(async {
        let (client, conn) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok(c) => c,
            Err(e) => return serde_json::json!({ "error": e.to_string() }),
        };
        tokio::spawn(conn);
        match client
            .query_one("SELECT session_user::text, current_database()::text", &[])
            .await
        {
            Ok(row) => serde_json::json!({ "user": row.get::<_, String>(0), "database": row.get::<_, String>(1) }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    })
}
