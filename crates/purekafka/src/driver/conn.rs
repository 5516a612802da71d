//! One TCP connection to a broker: connect with a timeout, then a writer that writes whole
//! request frames (several at once when queued) and a reader that splits responses into
//! frames and feeds them to the engine.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use purekafka_core::ConnId;
use purekafka_core::config::{BrokerAddress, BrokerAddressFamily};
use purekafka_protocol::frame::FrameDecoder;
use purekafka_protocol::frame::produce::ChunkedFrame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

use super::{Shared, SocketOptions};
use crate::config::RDKafkaLogLevel;

/// Frames are coalesced into one vectored write until this many chunks (a frame is never
/// split across the limit; the kernel's own limit is handled by partial writes).
const MAX_COALESCE: usize = 64;
/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// Runs connection `conn` until it fails or the task is aborted (engine `Close`).
pub(super) async fn run<O: Send + 'static>(
    shared: Arc<Shared<O>>,
    conn: ConnId,
    address: BrokerAddress,
    rx: mpsc::UnboundedReceiver<ChunkedFrame>,
    opts: SocketOptions,
) {
    let stream = match tokio::time::timeout(opts.connect_timeout, connect(&address, &opts)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.log(
                RDKafkaLogLevel::Error,
                "FAIL",
                &format!("{}:{}: Connect failed: {e}", address.host, address.port),
            );
            disconnected(&shared, conn);
            return;
        }
        Err(_) => {
            shared.log(
                RDKafkaLogLevel::Error,
                "FAIL",
                &format!(
                    "{}:{}: Connection setup timed out after {} ms",
                    address.host,
                    address.port,
                    opts.connect_timeout.as_millis()
                ),
            );
            disconnected(&shared, conn);
            return;
        }
    };
    if let Err(e) = stream.set_nodelay(opts.nodelay) {
        tracing::debug!(conn = conn.0, "TCP_NODELAY: {e}");
    }
    tracing::debug!(
        conn = conn.0,
        "connected to {}:{}",
        address.host,
        address.port
    );
    {
        let mut st = shared.lock();
        let now = shared.now();
        st.engine.handle_connected(now, conn);
        shared.service(&mut st);
    }
    let (read, write) = stream.into_split();
    let why = tokio::select! {
        r = write_loop(write, rx, &shared, conn) => r,
        r = read_loop(read, &shared, conn, opts.max_frame_size) => r,
    };
    shared.log(
        RDKafkaLogLevel::Info,
        "FAIL",
        &format!("{}:{}: Disconnected: {why}", address.host, address.port),
    );
    disconnected(&shared, conn);
}

/// Resolves `address` and tries each of its addresses of the allowed family in turn, with the
/// socket options applied before connecting.
async fn connect(address: &BrokerAddress, opts: &SocketOptions) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((address.host.as_str(), address.port)).await? {
        let socket = match (addr, opts.family) {
            (SocketAddr::V4(_), BrokerAddressFamily::Any | BrokerAddressFamily::V4) => {
                TcpSocket::new_v4()?
            }
            (SocketAddr::V6(_), BrokerAddressFamily::Any | BrokerAddressFamily::V6) => {
                TcpSocket::new_v6()?
            }
            _ => continue,
        };
        if opts.keepalive {
            socket.set_keepalive(true)?;
        }
        if opts.send_buffer > 0 {
            socket.set_send_buffer_size(opts.send_buffer)?;
        }
        if opts.receive_buffer > 0 {
            socket.set_recv_buffer_size(opts.receive_buffer)?;
        }
        match socket.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "no address of the allowed family (broker.address.family)",
        )
    }))
}

fn disconnected<O: Send + 'static>(shared: &Arc<Shared<O>>, conn: ConnId) {
    let mut st = shared.lock();
    let now = shared.now();
    st.engine.handle_disconnected(now, conn);
    shared.service(&mut st);
}

/// Writes frames as they come and reports the bytes written to the engine (its
/// `queue.buffering.backpressure.threshold` counts requests not yet written); returns why it
/// stopped.
async fn write_loop<W: AsyncWrite + Unpin, O: Send + 'static>(
    mut w: W,
    mut rx: mpsc::UnboundedReceiver<ChunkedFrame>,
    shared: &Arc<Shared<O>>,
    conn: ConnId,
) -> String {
    let mut queue: Vec<Bytes> = Vec::with_capacity(MAX_COALESCE);
    loop {
        // Taking a frame's chunks computes its batches' CRCs (the engine seals them without,
        // under its lock): here, on the driver thread, the sending threads keep the lock.
        match rx.recv().await {
            Some(frame) => queue.extend(frame.into_chunks()),
            None => return "closed by the producer".to_owned(),
        }
        while queue.len() < MAX_COALESCE {
            match rx.try_recv() {
                Ok(frame) => queue.extend(frame.into_chunks()),
                Err(_) => break,
            }
        }
        let written: usize = queue.iter().map(Bytes::len).sum();
        if let Err(e) = write_all_vectored(&mut w, &mut queue).await {
            return format!("write failed: {e}");
        }
        let mut st = shared.lock();
        let now = shared.now();
        st.engine.handle_written(now, conn, written);
        shared.service(&mut st);
    }
}

/// Writes every buffer of `queue` completely, in order, and empties it.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    queue: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    if queue.len() == 1 {
        w.write_all(&queue[0]).await?;
        queue.clear();
        return Ok(());
    }
    let mut first = 0;
    while first < queue.len() {
        let slices: Vec<IoSlice<'_>> = queue[first..].iter().map(|b| IoSlice::new(b)).collect();
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let head = &mut queue[first];
            if n >= head.len() {
                n -= head.len();
                first += 1;
            } else {
                head.advance(n);
                n = 0;
            }
        }
    }
    queue.clear();
    Ok(())
}

/// Reads responses and hands each whole frame to the engine; returns why it stopped.
async fn read_loop<R: AsyncRead + Unpin, O: Send + 'static>(
    mut r: R,
    shared: &Arc<Shared<O>>,
    conn: ConnId,
    max_frame_size: usize,
) -> String {
    let mut decoder = FrameDecoder::new(max_frame_size);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut wakes = Vec::new();
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match r.read_buf(&mut buf).await {
            Ok(0) => return "closed by the broker".to_owned(),
            Ok(_) => {}
            Err(e) => return format!("read failed: {e}"),
        }
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return format!("bad response frame: {e}"),
            }
        }
        if frames.is_empty() {
            continue;
        }
        let mut st = shared.lock();
        let now = shared.now();
        for frame in frames.drain(..) {
            st.engine.handle_response(now, conn, frame);
        }
        let taken = shared.service_taking_events(&mut st);
        drop(st);
        if let Some(taken) = taken {
            super::dispatch_taken(shared, taken, &mut wakes);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// Accepts at most `chunk` bytes per write (vectored or not), like a full socket buffer.
    struct Trickle {
        out: Vec<u8>,
        chunk: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut left = self.chunk;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                left -= take;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn vectored_writes_survive_partial_writes_in_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for chunk in [1, 3, 7, 100, 10_000] {
            let frames: Vec<Bytes> = (0..20_u8)
                .map(|i| Bytes::from(vec![i; usize::from(i) * 3 + 1]))
                .collect();
            let want: Vec<u8> = frames.iter().flat_map(|b| b.to_vec()).collect();
            let mut w = Trickle {
                out: Vec::new(),
                chunk,
            };
            let mut queue = frames.clone();
            rt.block_on(write_all_vectored(&mut w, &mut queue)).unwrap();
            assert!(queue.is_empty());
            assert_eq!(w.out, want, "chunk {chunk}");
        }
    }

    #[test]
    fn a_writer_accepting_nothing_is_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut w = Trickle {
            out: Vec::new(),
            chunk: 0,
        };
        let mut queue = vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")];
        let e = rt
            .block_on(write_all_vectored(&mut w, &mut queue))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WriteZero);
    }
}
