//! A tiny HTTP/1.1 server on 127.0.0.1 for the CLI tests: one thread, one request per
//! connection, answers from a handler of the request target.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// An answer: status and body (JSON unless the body starts otherwise; the CLI does not care).
pub type Answer = (u16, Vec<u8>);

pub struct Server {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// Request targets (path and query) in order.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Serves until the test process ends; unknown targets get what the handler says.
    pub fn start(handler: impl Fn(&str) -> Answer + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &handler, &seen);
            }
        });
        Server { base, requests }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, handler: &impl Fn(&str) -> Answer, seen: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or("").to_owned();
    seen.lock().unwrap().push(target.clone());
    let (status, body) = handler(&target);
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}

/// A 404 problem answer.
pub fn not_found() -> Answer {
    (
        404,
        br#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no such thing"}"#
            .to_vec(),
    )
}
