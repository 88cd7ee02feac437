//! A minimal SMTP server on loopback (RFC 5321 plain, no TLS, no auth), enough for lettre to
//! deliver to. It hands every accepted message to the test over a channel and can refuse the
//! first N messages with a temporary `451` to exercise retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A message the stub accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The raw DATA section (headers and encoded body).
    pub data: String,
}

impl Received {
    /// The body decoded from quoted-printable or base64, as lettre may encode it.
    pub fn body_text(&self) -> String {
        let (headers, body) = self.data.split_once("\r\n\r\n").unwrap_or(("", &self.data));
        let lower = headers.to_ascii_lowercase();
        if lower.contains("content-transfer-encoding: base64") {
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        } else if lower.contains("content-transfer-encoding: quoted-printable") {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        }
    }

    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .to_owned()
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct SmtpStub {
    pub port: u16,
    pub received: mpsc::UnboundedReceiver<Received>,
    /// Messages refused so far with a temporary error.
    pub refused: Arc<AtomicUsize>,
}

impl SmtpStub {
    /// Starts the stub; the first `refuse_first` messages get `451` after DATA.
    pub async fn start(refuse_first: usize) -> SmtpStub {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind smtp stub");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::unbounded_channel();
        let to_refuse = Arc::new(AtomicUsize::new(refuse_first));
        let refused = Arc::new(AtomicUsize::new(0));
        let counter = refused.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                let to_refuse = to_refuse.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = session(stream, tx, to_refuse, counter).await;
                });
            }
        });
        SmtpStub {
            port,
            received: rx,
            refused,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next accepted message (waits at most 20 s).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(std::time::Duration::from_secs(20), self.received.recv())
            .await
            .expect("a message reaches the SMTP stub in time")
            .expect("stub running")
    }

    /// The token of the link in the next message to `to` whose subject contains `subject`
    /// (messages in between are passed over).
    pub async fn token_for(&mut self, to: &str, subject: &str) -> String {
        loop {
            let msg = self.next().await;
            if msg.to.iter().any(|t| t == to) && msg.subject().contains(subject) {
                let body = msg.body_text();
                return super::token_in(&body)
                    .unwrap_or_else(|| panic!("no token in the mail to {to}: {body}"));
            }
        }
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    tx: mpsc::UnboundedSender<Received>,
    to_refuse: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 stub.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-stub.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 stub.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().trim_matches(['<', '>']).to_owned();
            to.clear();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().trim_matches(['<', '>']).to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(unstuffed);
            }
            let refuse = to_refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refuse {
                refused.fetch_add(1, Ordering::SeqCst);
                write.write_all(b"451 4.3.0 try again later\r\n").await?;
            } else {
                let _ = tx.send(Received {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
                write.write_all(b"250 2.0.0 queued\r\n").await?;
            }
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 command not implemented\r\n").await?;
        }
    }
}
