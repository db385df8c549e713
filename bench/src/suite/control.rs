//! A minimal blocking JSON client for the mock DC's control API (docs/mock-dc.md), over one
//! keep-alive HTTP/1.1 connection: the suite prepares tens of thousands of accounts with it, so
//! it must not open a socket per call.
//!
//! Why not `telegate-mockdc-client`: it is not on main yet; once it is, this file can go.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use anyhow::{bail, Context};
use serde_json::Value;

pub struct Control {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Control {
    /// `url` is the ready line's `control_url` (`http://host:port`).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let addr = url
            .strip_prefix("http://")
            .with_context(|| format!("control URL {url:?} is not http://host:port"))?
            .trim_end_matches('/')
            .to_string();
        Ok(Self { addr, stream: None })
    }

    /// `POST path` with a JSON body; the answer's JSON, or an error naming the status and body.
    pub fn post(&mut self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call("POST", path, &body.to_string())
    }

    fn call(&mut self, method: &str, path: &str, body: &str) -> anyhow::Result<Value> {
        // One retry on a fresh connection: the server may have closed an idle keep-alive one.
        match self.try_call(method, path, body) {
            Ok(v) => Ok(v),
            Err(_) if self.stream.take().is_some() => self.try_call(method, path, body),
            Err(e) => Err(e),
        }
        .with_context(|| format!("control API {method} {path}"))
    }

    fn try_call(&mut self, method: &str, path: &str, body: &str) -> anyhow::Result<Value> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr)?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().expect("connected above");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        reader.get_mut().write_all(request.as_bytes())?;
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let mut length = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let length = length.context("answer without Content-Length")?;
        let mut bytes = vec![0; length];
        reader.read_exact(&mut bytes)?;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(json)
    }
}
