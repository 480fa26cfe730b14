//! `harnext-mock [--port N] [--ignore-stdin]`
//!
//! Starts the mock model server (Anthropic, OpenAI Responses and OpenAI Chat routes)
//! on 127.0.0.1 and prints one line to stdout,
//! `{"url":"http://127.0.0.1:PORT"}`. Script it over HTTP:
//! `POST /_mock/responses` (`[MockResponse, …]` or one), `GET /_mock/requests`,
//! `POST /_mock/reset`.
//!
//! The process exits when its stdin reaches EOF (so a test runner that dies never
//! leaves it behind), unless `--ignore-stdin` is given, and on SIGTERM / ctrl-c
//! (the default signal disposition: there is nothing to clean up).

use std::io::Read;
use std::io::Write;
use std::process::ExitCode;

use harnext_mock::MockServer;

const USAGE: &str = "usage: harnext-mock [--port N] [--ignore-stdin]";

struct Args {
    port: u16,
    watch_stdin: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        port: 0,
        watch_stdin: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let port = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--ignore-stdin" => {
                args.watch_stdin = false;
                continue;
            }
            "--port" => it.next().ok_or("--port needs a value")?,
            other => match other.strip_prefix("--port=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unknown argument `{other}`")),
            },
        };
        args.port = port
            .parse()
            .map_err(|_| format!("--port: `{port}` is not a port number"))?;
    }
    Ok(Some(args))
}

/// Exits the process when stdin reaches EOF (or fails).
fn watch_stdin() {
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("harnext-mock: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match MockServer::bind(args.port).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "harnext-mock: cannot listen on 127.0.0.1:{}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let line = serde_json::json!({ "url": server.url() }).to_string();
    {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return ExitCode::FAILURE;
        }
    }
    if args.watch_stdin {
        watch_stdin();
    }
    std::future::pending::<()>().await;
    drop(server);
    ExitCode::SUCCESS
}
