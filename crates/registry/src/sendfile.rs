//! Zero-copy blob bodies: `sendfile(2)` from the blob file straight into the client's socket.
//!
//! actix-web copies every body piece into its connection's write buffer before writing it to
//! the socket, so a streamed blob is copied twice in user space (file → read buffer → write
//! buffer) and once more into the socket. On plain TCP connections the gateway gives
//! actix-http a [`ConnIo`] around the socket instead of the bare socket, and blob reads of
//! the filesystem store answer through [`respond`]:
//!
//! - the response carries its own `Content-Length` and no chunking, and the body yields no
//!   bytes at all, so actix-http writes only the response head;
//! - the body's first poll hands the file and range to the connection's [`SendSlot`] (armed);
//! - the connection's next `poll_flush` sends the range with `sendfile`. actix-http calls
//!   `poll_flush` only once everything it buffered before (the head included) has been
//!   written, so the file bytes follow the head on the wire and nothing else is written
//!   before they are all sent;
//! - then the body ends, and the connection goes on as usual (keep-alive, pipelined requests).
//!
//! The kernel moves page-cache pages to the socket: no user-space copy and no buffer per
//! connection. A large send yields to the worker's other connections every
//! [`MAX_PER_POLL`] bytes, and asks the kernel to read ahead of it ([`READ_AHEAD`]) so that
//! `sendfile` rarely waits for the disk on the worker thread.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use actix_web::body::{BodySize, MessageBody};
use actix_web::{HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Bytes one connection sends before it lets the worker's other connections run.
const MAX_PER_POLL: u64 = 4 << 20;

/// How far ahead of the send position the kernel is asked to read the file.
const READ_AHEAD: u64 = 8 << 20;

/// A range of a file to send on a connection.
struct Job {
    file: File,
    start: u64,
    pos: u64,
    end: u64,
    /// Where the last read-ahead advice ends.
    advised: u64,
}

enum State {
    /// Nothing to send: the connection writes what actix-http gives it.
    Idle,
    /// A body handed over its range; it is sent at the next flush.
    Armed(Job),
    /// The range is being sent. Back to `Idle` once it is all sent, which is how the body,
    /// having armed it, knows it has ended.
    Sending(Job),
    /// A send failed or was abandoned half-way: the byte stream of this connection is broken,
    /// so every further write fails and actix-http closes it.
    Broken,
}

struct Slot {
    state: State,
    /// The body's task, woken when the send ends.
    waker: Option<Waker>,
}

/// One connection's hand-over point between a response body from [`respond`] and its [`ConnIo`]. The
/// gateway puts it into the connection's data (`HttpRequest::conn_data`).
#[derive(Clone)]
pub struct SendSlot(Rc<RefCell<Slot>>);

impl SendSlot {
    fn new() -> Self {
        SendSlot(Rc::new(RefCell::new(Slot {
            state: State::Idle,
            waker: None,
        })))
    }
}

/// A plain TCP connection that can send a file range with `sendfile` between the bytes
/// actix-http writes.
pub struct ConnIo {
    stream: TcpStream,
    slot: SendSlot,
}

impl ConnIo {
    pub fn new(stream: TcpStream) -> Self {
        ConnIo {
            stream,
            slot: SendSlot::new(),
        }
    }

    /// The slot through which a response body on this connection hands over its file.
    pub fn slot(&self) -> SendSlot {
        self.slot.clone()
    }

    /// Sends the armed or running range, if any (arming it first when `start` is set); ready
    /// once nothing of it is left.
    fn drive(&mut self, cx: &mut Context<'_>, start: bool) -> Poll<io::Result<()>> {
        let mut slot = self.slot.0.borrow_mut();
        let job = match std::mem::replace(&mut slot.state, State::Idle) {
            State::Armed(job) if start => job,
            // The response head is still being written.
            State::Armed(job) => {
                slot.state = State::Armed(job);
                return Poll::Ready(Ok(()));
            }
            State::Sending(job) => job,
            State::Broken => {
                slot.state = State::Broken;
                return Poll::Ready(Err(broken()));
            }
            other => {
                slot.state = other;
                return Poll::Ready(Ok(()));
            }
        };
        let (result, state) = match send(&self.stream, job, cx) {
            Sent::All => (Poll::Ready(Ok(())), State::Idle),
            Sent::Failed(e) => (Poll::Ready(Err(e)), State::Broken),
            Sent::Part(job) => {
                slot.state = State::Sending(job);
                return Poll::Pending;
            }
        };
        slot.state = state;
        if let Some(w) = slot.waker.take() {
            w.wake();
        }
        result
    }
}

/// How far one call of [`send`] got.
enum Sent {
    All,
    Failed(io::Error),
    /// Not finished: the rest is sent when the connection is polled again.
    Part(Job),
}

/// Sends what is left of `job`; hands the job back while it is not finished.
fn send(stream: &TcpStream, mut job: Job, cx: &mut Context<'_>) -> Sent {
    let mut sent = 0u64;
    while job.pos < job.end {
        if sent >= MAX_PER_POLL {
            cx.waker().wake_by_ref();
            return Sent::Part(job);
        }
        if job.advised < job.end && job.advised < job.pos + READ_AHEAD / 2 {
            let from = job.advised.max(job.pos);
            let to = (job.pos + READ_AHEAD).min(job.end);
            // Advice only: a failure changes nothing but the timing.
            let _ = posix_fadvise(
                job.file.as_fd(),
                from as i64,
                (to - from) as i64,
                PosixFadviseAdvice::POSIX_FADV_WILLNEED,
            );
            job.advised = to;
        }
        match stream.poll_write_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Sent::Failed(e),
            Poll::Pending => return Sent::Part(job),
        }
        let count = (job.end - job.pos).min(MAX_PER_POLL) as usize;
        let mut offset = job.pos as i64;
        let res = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile64(stream, &job.file, Some(&mut offset), count)
                .map_err(io::Error::from)
        });
        match res {
            Ok(0) => {
                return Sent::Failed(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob file is shorter than recorded",
                ))
            }
            Ok(n) => {
                job.pos += n as u64;
                sent += n as u64;
            }
            // Readiness was cleared: the next poll_write_ready waits for room.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Sent::Failed(e),
        }
    }
    tracing::debug!(target: "berth::sendfile", bytes = job.end - job.start, "blob sent with sendfile");
    Sent::All
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "a file send on this connection was abandoned",
    )
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Bytes written while a range is being sent come after it.
        ready!(self.drive(cx, false))?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drive(cx, false))?;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Everything actix-http buffered before this flush has been written: an armed range
        // goes out now.
        ready!(self.drive(cx, true))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Finishes `res` with `len` bytes of `file` from `start` as its body, sent by the connection
/// of `slot` with `sendfile`. The response declares its `Content-Length` itself: the body
/// yields no bytes.
pub fn respond(
    mut res: HttpResponseBuilder,
    slot: &SendSlot,
    file: File,
    start: u64,
    len: u64,
) -> HttpResponse {
    res.no_chunking(len).body(SendfileBody {
        slot: slot.clone(),
        job: Some(Job {
            file,
            start,
            pos: start,
            end: start + len,
            advised: start,
        }),
    })
}

/// A response body that yields no bytes: its file range goes out by the connection.
struct SendfileBody {
    slot: SendSlot,
    job: Option<Job>,
}

impl MessageBody for SendfileBody {
    type Error = io::Error;

    fn size(&self) -> BodySize {
        // Not `Sized`: actix-http would then expect the bytes from this body.
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let mut slot = this.slot.0.borrow_mut();
        if let Some(job) = this.job.take() {
            if job.pos == job.end {
                return Poll::Ready(None);
            }
            if !matches!(slot.state, State::Idle) {
                // Cannot happen with actix-http's one response at a time per connection.
                slot.state = State::Broken;
                return Poll::Ready(Some(Err(broken())));
            }
            slot.state = State::Armed(job);
            slot.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        match std::mem::replace(&mut slot.state, State::Idle) {
            State::Idle => Poll::Ready(None),
            State::Broken => {
                slot.state = State::Broken;
                Poll::Ready(Some(Err(broken())))
            }
            running => {
                slot.state = running;
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for SendfileBody {
    fn drop(&mut self) {
        if self.job.is_some() {
            // Never armed: nothing of it reached the connection.
            return;
        }
        let mut slot = self.slot.0.borrow_mut();
        slot.waker = None;
        match slot.state {
            // Ended normally, or the connection is broken already.
            State::Idle | State::Broken => {}
            // Dropped before its bytes were all sent: the connection's byte stream cannot be
            // continued.
            State::Armed(_) | State::Sending(_) => slot.state = State::Broken,
        }
    }
}
