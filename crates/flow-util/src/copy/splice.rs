//! The kernel relay: between two plain sockets on Linux, bytes move with
//! `splice(2)` from the source socket into a pipe and from the pipe into
//! the destination socket, without entering user space.
//!
//! Each direction has its own pipe. The pipe is filled only when it is
//! empty, so a `WouldBlock` from the source means that the socket has
//! nothing (an empty pipe always has room), and a `WouldBlock` towards the
//! destination means that the socket is full (the pipe has data): each
//! wait is on the socket's own readiness, on the runtime's reactor.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use flow_socket::{RawSocketFlow, Readiness};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

use super::{CHUNKS_PER_POLL, CopyError, Phase, Pump, Side};

/// The pipe size asked for: 1 MiB, the default limit for unprivileged
/// processes (`/proc/sys/fs/pipe-max-size`). Pages are taken as bytes pass,
/// so an idle relay holds none. Without it, Linux's 64 KiB.
const PIPE_SIZE: usize = 1 << 20;

/// A pipe between the two sockets, and how much it holds.
#[derive(Debug)]
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    held: usize,
    size: usize,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        // A smaller pipe still works; only more system calls per byte.
        let size = rustix::pipe::fcntl_setpipe_size(&write, PIPE_SIZE)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&write))
            .unwrap_or(64 * 1024);
        Ok(Pipe {
            read,
            write,
            held: 0,
            size,
        })
    }
}

/// One `splice(2)`, retried when a signal interrupted it.
fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    loop {
        match rustix::pipe::splice(from, None, to, None, len, SpliceFlags::MOVE | SpliceFlags::NONBLOCK) {
            Err(Errno::INTR) => {}
            other => return other.map_err(io::Error::from),
        }
    }
}

/// The socket type cannot splice (the first call says so): the bytes go
/// through user space instead.
fn cannot_splice(err: &io::Error) -> bool {
    [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP]
        .iter()
        .any(|errno| err.raw_os_error() == Some(errno.raw_os_error()))
}

#[derive(Debug)]
enum Lane {
    /// Not polled yet: whether both ends can splice is decided then.
    Unstarted,
    Kernel(Pipe),
    /// Through user space: one end cannot splice, or the kernel part is
    /// over (the source's end of file; flushing and shutting down are the
    /// pump's).
    User,
}

/// [`poll_lane`] for one pair of flow types: chosen where the types are
/// known to be sockets ([`Kernel::new`]), called where they are not.
type Step<R, W> = fn(&mut Pump, &mut Lane, &mut R, &mut W, &mut Context<'_>) -> Poll<Result<(), CopyError>>;

/// One direction's kernel relay, for a [`Pump`] from `R` to `W`.
pub(super) struct Kernel<R: ?Sized, W: ?Sized> {
    lane: Lane,
    step: Step<R, W>,
    _ends: PhantomData<fn(&mut R, &mut W)>,
}

impl<R: ?Sized, W: ?Sized> Kernel<R, W> {
    pub(super) fn new() -> Self
    where
        R: RawSocketFlow,
        W: RawSocketFlow,
    {
        Kernel {
            lane: Lane::Unstarted,
            step: poll_lane::<R, W>,
            _ends: PhantomData,
        }
    }

    /// Ready(Ok) once the pump should go on by itself: the source reached
    /// its end of file (the pump's phase says so), or this direction
    /// cannot splice.
    pub(super) fn poll(
        &mut self,
        pump: &mut Pump,
        src: &mut R,
        dst: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), CopyError>> {
        (self.step)(pump, &mut self.lane, src, dst, cx)
    }
}

impl<R: ?Sized, W: ?Sized> std::fmt::Debug for Kernel<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").field("lane", &self.lane).finish()
    }
}

fn poll_lane<R, W>(
    pump: &mut Pump,
    lane: &mut Lane,
    src: &mut R,
    dst: &mut W,
    cx: &mut Context<'_>,
) -> Poll<Result<(), CopyError>>
where
    R: RawSocketFlow + ?Sized,
    W: RawSocketFlow + ?Sized,
{
    pump.start();
    loop {
        match lane {
            Lane::User => return Poll::Ready(Ok(())),
            Lane::Unstarted => {
                if pump.phase != Phase::Moving || pump.pending.is_some() {
                    *lane = Lane::User;
                    continue;
                }
                // Whatever was queued before the relay goes out first.
                match Pin::new(&mut *dst).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(pump.fail(Side::Write, err))),
                    Poll::Pending => return Poll::Pending,
                }
                *lane = if src.raw_ready(Readiness::Read) && dst.raw_ready(Readiness::Write) {
                    // Without a pipe (no descriptors left), user space still works.
                    Pipe::new().map_or(Lane::User, Lane::Kernel)
                } else {
                    Lane::User
                };
            }
            Lane::Kernel(pipe) => {
                std::task::ready!(poll_kernel(pump, pipe, src, dst, cx))?;
                *lane = Lane::User;
            }
        }
    }
}

/// Splices until the source's end of file (the pump's phase moves on to
/// flushing), or until the source turns out unable to splice before any
/// byte moved (the phase unchanged: the pump reads it instead).
fn poll_kernel<R, W>(
    pump: &mut Pump,
    pipe: &mut Pipe,
    src: &mut R,
    dst: &mut W,
    cx: &mut Context<'_>,
) -> Poll<Result<(), CopyError>>
where
    R: RawSocketFlow + ?Sized,
    W: RawSocketFlow + ?Sized,
{
    let mut rounds = 0;
    loop {
        if pipe.held > 0 {
            let (from, held) = (&pipe.read, pipe.held);
            let sent = dst.poll_raw_io(cx, Readiness::Write, &mut |to| splice(from.as_fd(), to, held));
            match std::task::ready!(sent) {
                Ok(0) => {
                    let err = io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes");
                    let err = dst.raw_error(Readiness::Write, err);
                    return Poll::Ready(Err(pump.fail(Side::Write, err)));
                }
                Ok(n) => {
                    pipe.held -= n;
                    pump.stats.bytes_written += n as u64;
                    pump.stats.spliced += n as u64;
                    pump.stats.writes += 1;
                }
                Err(err) => {
                    let err = dst.raw_error(Readiness::Write, err);
                    return Poll::Ready(Err(pump.fail(Side::Write, err)));
                }
            }
        } else {
            let (to, size) = (&pipe.write, pipe.size);
            let received = src.poll_raw_io(cx, Readiness::Read, &mut |from| splice(from, to.as_fd(), size));
            match std::task::ready!(received) {
                Ok(0) => {
                    pump.phase = Phase::Flushing;
                    return Poll::Ready(Ok(()));
                }
                Ok(n) => {
                    pipe.held = n;
                    pump.stats.bytes_read += n as u64;
                    pump.stats.reads += 1;
                }
                Err(err) if pump.stats.bytes_read == 0 && cannot_splice(&err) => return Poll::Ready(Ok(())),
                Err(err) => {
                    let err = src.raw_error(Readiness::Read, err);
                    return Poll::Ready(Err(pump.fail(Side::Read, err)));
                }
            }
        }
        rounds += 1;
        if rounds >= CHUNKS_PER_POLL {
            // Let other tasks (and the other direction) run.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
    }
}
