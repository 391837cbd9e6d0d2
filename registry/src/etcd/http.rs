//! A blocking HTTP/1.1 client for etcd's gateway: POSTs of JSON on one
//! kept-alive connection, answers read whole (by `Content-Length` or
//! chunked), and a chunked answer read piece by piece for a watch.
//!
//! Everything it reads is bounded (the head, each answer, each piece), and
//! every read and write has a timeout, so a wedged or hostile peer costs a
//! bounded wait and an error, never a hang or unbounded memory.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The most an answer's head may take.
const MAX_HEAD: usize = 16 * 1024;

/// The most one answer (or one piece of a stream) may take.
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.into())
}

/// How an answer's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Length(usize),
    Chunked,
}

/// One connection to an HTTP server.
#[derive(Debug)]
pub(crate) struct Http {
    stream: TcpStream,
    host: String,
    /// Bytes read and not yet used.
    buf: Vec<u8>,
    /// A streamed answer's state: `None` until its head is read, then
    /// whether its last chunk has come.
    streaming: Option<bool>,
}

impl Http {
    /// Connects to `host` (`name:port`), waiting at most `timeout` to
    /// connect and then for each read and write.
    pub(crate) fn connect(host: &str, timeout: Duration) -> io::Result<Http> {
        let mut last = invalid(format!("{host} names no address"));
        for addr in host.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    let _ = stream.set_nodelay(true);
                    return Ok(Http {
                        stream,
                        host: host.to_owned(),
                        buf: Vec::new(),
                        streaming: None,
                    });
                }
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// A second handle on the socket, to shut it from another thread.
    pub(crate) fn socket(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Waits at most `timeout` for each read (`None`: for ever).
    pub(crate) fn read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// POSTs `body` (JSON) to `path` and returns the answer's body.
    ///
    /// # Errors
    ///
    /// I/O errors; an answer that is not HTTP/1.1 or is too large; a
    /// status other than 200 (the error holds the body, which says why).
    pub(crate) fn post(&mut self, path: &str, body: &str) -> io::Result<String> {
        self.send(path, body)?;
        let delimited = self.head()?;
        let bytes = match delimited {
            Body::Length(len) => self.take(len)?,
            Body::Chunked => {
                let mut all = Vec::new();
                while let Some(chunk) = self.chunk()? {
                    if all.len() + chunk.len() > MAX_BODY {
                        return Err(invalid("an answer larger than 64 MiB"));
                    }
                    all.extend_from_slice(&chunk);
                }
                all
            }
        };
        String::from_utf8(bytes).map_err(|_| invalid("an answer that is not UTF-8"))
    }

    /// POSTs `body` to `path` for an answer that comes in pieces (etcd's
    /// watch): [`next_piece`](Http::next_piece) reads them.
    pub(crate) fn open_stream(&mut self, path: &str, body: &str) -> io::Result<()> {
        self.send(path, body)?;
        match self.head()? {
            Body::Chunked => {
                self.streaming = Some(false);
                Ok(())
            }
            Body::Length(len) => {
                let body = self.take(len)?;
                Err(invalid(format!(
                    "a stream was expected, not {:?}",
                    String::from_utf8_lossy(&body)
                )))
            }
        }
    }

    /// The next piece of a stream opened with
    /// [`open_stream`](Http::open_stream); `None` at its end.
    pub(crate) fn next_piece(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.streaming {
            Some(false) => {}
            Some(true) => return Ok(None),
            None => return Err(invalid("no stream is open")),
        }
        let chunk = self.chunk()?;
        if chunk.is_none() {
            self.streaming = Some(true);
        }
        Ok(chunk)
    }

    fn send(&mut self, path: &str, body: &str) -> io::Result<()> {
        self.streaming = None;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.write_all(request.as_bytes())
    }

    /// Reads more into the buffer; an error at the end of the stream.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "etcd closed the connection",
                    ));
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads through the next `\r\n`, which is not kept; at most `max`
    /// bytes.
    fn line(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut searched = 0;
        loop {
            if let Some(at) = self.buf[searched..].windows(2).position(|w| w == b"\r\n") {
                let end = searched + at;
                let line = self.buf[..end].to_vec();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            searched = self.buf.len().saturating_sub(1);
            if self.buf.len() > max {
                return Err(invalid("a line too long in an HTTP answer"));
            }
            self.fill()?;
        }
    }

    /// Takes exactly `len` bytes.
    fn take(&mut self, len: usize) -> io::Result<Vec<u8>> {
        if len > MAX_BODY {
            return Err(invalid(format!("an answer of {len} bytes")));
        }
        while self.buf.len() < len {
            self.fill()?;
        }
        Ok(self.buf.drain(..len).collect())
    }

    /// Reads an answer's head: how its body comes. A status other than
    /// 200 is an error with the body's text.
    fn head(&mut self) -> io::Result<Body> {
        let status = self.line(MAX_HEAD)?;
        let status = String::from_utf8_lossy(&status).into_owned();
        let code = status
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status.strip_prefix("HTTP/1.0 "))
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| invalid(format!("not an HTTP answer: {status:?}")))?;
        let mut body = None;
        let mut taken = status.len();
        loop {
            let line = self.line(MAX_HEAD)?;
            taken += line.len() + 2;
            if taken > MAX_HEAD {
                return Err(invalid("an HTTP head larger than 16 KiB"));
            }
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(&line);
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let len = value
                    .parse()
                    .map_err(|_| invalid(format!("a Content-Length of {value:?}")))?;
                body = Some(Body::Length(len));
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                body = Some(Body::Chunked);
            }
        }
        let body = body.unwrap_or(Body::Length(0));
        if code != 200 {
            let text = match body {
                Body::Length(len) => self.take(len)?,
                Body::Chunked => self.chunk()?.unwrap_or_default(),
            };
            return Err(io::Error::other(format!(
                "etcd answered {status:?}: {}",
                String::from_utf8_lossy(&text).trim()
            )));
        }
        Ok(body)
    }

    /// The next chunk of a chunked body; `None` after the last.
    fn chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let size = self.line(64)?;
        let size = String::from_utf8_lossy(&size);
        let size = size.split(';').next().unwrap_or_default().trim();
        let len = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("a chunk size of {size:?}")))?;
        if len == 0 {
            // Trailers, then the blank line: at most a head's worth, so a
            // peer that sends trailers without end is an error, not a loop.
            let mut trailers = 0;
            loop {
                let line = self.line(MAX_HEAD)?;
                if line.is_empty() {
                    return Ok(None);
                }
                trailers += line.len() + 2;
                if trailers > MAX_HEAD {
                    return Err(invalid("trailers larger than 16 KiB"));
                }
            }
        }
        let chunk = self.take(len)?;
        if self.take(2)? != b"\r\n" {
            return Err(invalid("a chunk not followed by CRLF"));
        }
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A server that answers the first request with `answer`, whatever it
    /// is, and returns what it was sent.
    fn serve(answer: &'static [u8]) -> (String, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let server = thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut got = vec![0; 4096];
            let n = peer.read(&mut got).unwrap();
            got.truncate(n);
            peer.write_all(answer).unwrap();
            got
        });
        (host, server)
    }

    fn client(host: &str) -> Http {
        Http::connect(host, Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn reads_answers_by_length_and_by_chunks() {
        let (host, server) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{\"a\"");
        assert_eq!(client(&host).post("/v3/x", "{}").unwrap(), "{\"a\"");
        let sent = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(sent.starts_with("POST /v3/x HTTP/1.1\r\n"), "{sent}");
        assert!(sent.ends_with("Content-Length: 2\r\n\r\n{}"), "{sent}");

        let (host, _server) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"b\r\n2;x=y\r\n\":\r\n0\r\n\r\n",
        );
        assert_eq!(client(&host).post("/", "").unwrap(), "{\"b\":");
    }

    #[test]
    fn streams_come_piece_by_piece() {
        let (host, _server) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        );
        let mut http = client(&host);
        http.open_stream("/v3/watch", "{}").unwrap();
        assert_eq!(http.next_piece().unwrap().unwrap(), b"ab");
        assert_eq!(http.next_piece().unwrap().unwrap(), b"c");
        assert_eq!(http.next_piece().unwrap(), None);
        assert_eq!(http.next_piece().unwrap(), None);
    }

    #[test]
    fn bad_answers_are_errors() {
        let cases: [(&'static [u8], &str); 5] = [
            (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
                "not found",
            ),
            (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
                "an answer of",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "a chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                "closed the connection",
            ),
        ];
        for (answer, said) in cases {
            let (host, _server) = serve(answer);
            let error = client(&host).post("/", "{}").unwrap_err().to_string();
            assert!(
                error.contains(said),
                "{error:?} for {:?}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn endless_trailers_are_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let server = thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut got = vec![0; 4096];
            let _ = peer.read(&mut got);
            let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
            peer.write_all(head).unwrap();
            // Until the client hangs up.
            while peer.write_all(b"x-more: trailer\r\n").is_ok() {}
        });
        let error = client(&host).post("/", "{}").unwrap_err().to_string();
        assert!(error.contains("trailers larger"), "{error}");
        server.join().unwrap();
    }
}
