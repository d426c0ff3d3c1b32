//! Framing: Kafka's 4-byte big-endian size prefix, then that many bytes of request.
//!
//! The decoder yields each request as a zero-copy [`Bytes`] (header + body). The maximum request
//! size (`socket.request.max.bytes`) is enforced on the prefix alone, before any buffer is
//! reserved, so a client cannot make the broker allocate by announcing a huge frame. A partial
//! frame is not an error: the decoder reserves room for the rest and waits. A frame of up to
//! [`WHOLE_FRAME_RESERVE`] (what producers send: librdkafka's and Java's request limits are
//! about 1 MB) gets its whole buffer at once, so it is read straight into place instead of
//! being copied at every doubling of a growing buffer; a larger one grows with what has arrived.
//!
//! Frames are cut from the read buffer without copying, so while a Produce is being appended
//! its frame still holds the buffer's memory, and the next large frame needs another buffer.
//! The decoder keeps the one it set aside and takes it back once its frames are dropped: a
//! busy producer's connection alternates between two buffers instead of allocating a fresh one
//! per request, whose pages the kernel would fault in and zero while the socket fills them
//! (a fifth of the broker's CPU on 1 MB produce requests before this).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Why a connection's byte stream cannot be framed. Any of these closes that connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {size} is over the limit of {max} bytes")]
    TooLarge { size: i64, max: usize },
    #[error("negative frame size {0}")]
    Negative(i32),
    #[error("empty frame")]
    Empty,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Decoder for the request side of a Kafka connection.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame: usize,
    /// Handles on the last two buffers this decoder allocated for large frames (empty views that
    /// keep their memory; see [`FrameDecoder::make_room`]), the newest first.
    buffers: [Option<BytesMut>; 2],
}

/// The largest buffer the decoder keeps for reuse: a whole frame of [`WHOLE_FRAME_RESERVE`]
/// bytes and its size prefix. Larger frames grow a buffer of their own, not kept.
const ROTATED_MAX: usize = WHOLE_FRAME_RESERVE + 4;

impl FrameDecoder {
    pub fn new(max_frame: usize) -> FrameDecoder {
        FrameDecoder {
            max_frame,
            buffers: [None, None],
        }
    }

    /// Makes room in `src` for `additional` more bytes. In place when no frame cut from `src`
    /// is alive any more. Otherwise, for a frame of ordinary size, in one of the last two
    /// buffers allocated here once nothing uses it any more (not `src`, no frame), or else in a
    /// new one; the bytes already read move along, as `reserve` would move them. A connection
    /// thus keeps at most two such buffers besides its frames in flight.
    fn make_room(&mut self, src: &mut BytesMut, additional: usize) {
        if src.try_reclaim(additional) {
            return;
        }
        let needed = src.len() + additional;
        if additional < RESERVE_STEP || needed > ROTATED_MAX {
            src.reserve(additional);
            return;
        }
        // A handle is an empty view at the end of its buffer: `try_reclaim` succeeds once it is
        // the buffer's last user, and then spans the whole buffer again.
        let free = (0..2).find(|&i| {
            self.buffers[i]
                .as_mut()
                .is_some_and(|handle| handle.try_reclaim(needed))
        });
        let mut next = match free {
            Some(i) => {
                let next = self.buffers[i].take().unwrap_or_default();
                if i == 1 {
                    self.buffers.swap(0, 1);
                }
                next
            }
            None => {
                self.buffers[1] = self.buffers[0].take();
                BytesMut::with_capacity(needed)
            }
        };
        let end = next.capacity();
        self.buffers[0] = Some(next.split_off(end));
        next.extend_from_slice(src);
        *src = next;
    }
}

/// Smallest read-ahead reservation for a partial frame (see `decode`).
const RESERVE_STEP: usize = 64 * 1024;

/// Frames up to this size are reserved whole as soon as their size is read; beyond it the
/// reservation grows with the bytes that have arrived. Either way an announced size costs at
/// most this much address space before its bytes come (and no resident memory: untouched).
pub const WHOLE_FRAME_RESERVE: usize = (1 << 20) + RESERVE_STEP;

impl Decoder for FrameDecoder {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if size < 0 {
            return Err(FrameError::Negative(size));
        }
        if size == 0 {
            return Err(FrameError::Empty);
        }
        let size = size as usize;
        if size > self.max_frame {
            return Err(FrameError::TooLarge {
                size: size as i64,
                max: self.max_frame,
            });
        }
        if src.len() < 4 + size {
            // Only now, with the size known to be acceptable, make room for the rest: all of it
            // for a frame of ordinary size, otherwise in step with what has arrived (at most
            // doubling it), so that a client announcing a large frame and sending a few bytes
            // does not make the broker reserve the announced size.
            let missing = 4 + size - src.len();
            if src.capacity() - src.len() < missing {
                self.make_room(src, missing.min(src.len().max(WHOLE_FRAME_RESERVE)));
            }
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(size).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_size_is_not_reserved_up_front() {
        let mut d = FrameDecoder::new(100 * 1024 * 1024);
        let mut buf = BytesMut::from(&(50i32 * 1024 * 1024).to_be_bytes()[..]);
        assert!(d.decode(&mut buf).expect("ok").is_none());
        assert!(
            buf.capacity() <= WHOLE_FRAME_RESERVE + RESERVE_STEP,
            "{}",
            buf.capacity()
        );
        // Growing with the data still ends in one whole frame.
        let mut d = FrameDecoder::new(1024 * 1024);
        let mut buf = BytesMut::from(&(300_000i32).to_be_bytes()[..]);
        let mut sent = 0;
        let frame = loop {
            if let Some(f) = d.decode(&mut buf).expect("ok") {
                break f;
            }
            let n = (300_000 - sent).min(10_000);
            buf.extend_from_slice(&vec![7u8; n]);
            sent += n;
        };
        assert_eq!(frame.len(), 300_000);
    }

    #[test]
    fn an_ordinary_frame_is_read_into_one_buffer() {
        // A 1 MB produce request arriving in 64 KiB reads: one reservation, never moved.
        let size = 1_000_000usize;
        let mut d = FrameDecoder::new(100 * 1024 * 1024);
        let mut buf = BytesMut::with_capacity(8 * 1024);
        buf.extend_from_slice(&(size as i32).to_be_bytes());
        buf.extend_from_slice(&[1u8; 4000]);
        assert!(d.decode(&mut buf).expect("ok").is_none());
        let start = buf.as_ptr();
        assert!(buf.capacity() >= 4 + size);
        let mut sent = 4000;
        let frame = loop {
            if let Some(f) = d.decode(&mut buf).expect("ok") {
                break f;
            }
            assert_eq!(buf.as_ptr(), start, "the buffer moved after {sent} bytes");
            let n = (size - sent).min(64 * 1024);
            buf.extend_from_slice(&vec![1u8; n]);
            sent += n;
        };
        assert_eq!(frame.len(), size);
        assert_eq!(frame.as_ptr(), start.wrapping_add(4));
    }

    /// Feeds `frame` (size prefix included) in 64 KiB pieces; returns the decoded frame.
    fn feed(d: &mut FrameDecoder, buf: &mut BytesMut, frame: &[u8]) -> Bytes {
        for piece in frame.chunks(64 * 1024) {
            if let Some(f) = d.decode(buf).expect("ok") {
                panic!("a frame of {} bytes before the end", f.len());
            }
            buf.extend_from_slice(piece);
        }
        d.decode(buf).expect("ok").expect("whole frame")
    }

    #[test]
    fn large_frames_reuse_buffers_whose_frames_are_gone() {
        let size = 900_000usize;
        let mut frame = (size as i32).to_be_bytes().to_vec();
        frame.extend(std::iter::repeat_n(9u8, size));
        let mut d = FrameDecoder::new(100 * 1024 * 1024);
        let mut buf = BytesMut::new();
        let first = feed(&mut d, &mut buf, &frame);
        // While the first frame is alive the second needs other memory...
        let second = feed(&mut d, &mut buf, &frame);
        assert_ne!(first.as_ptr(), second.as_ptr());
        // ...and once it is gone its buffer carries the third frame, then the second's the fourth.
        let first_at = first.as_ptr();
        drop(first);
        let third = feed(&mut d, &mut buf, &frame);
        assert_eq!(third.as_ptr(), first_at);
        let second_at = second.as_ptr();
        drop(second);
        let fourth = feed(&mut d, &mut buf, &frame);
        assert_eq!(fourth.as_ptr(), second_at);
        assert!(fourth.iter().all(|b| *b == 9) && fourth.len() == size);
        // With both frames still held, a fresh buffer: nothing in use is ever written over.
        let fifth = feed(&mut d, &mut buf, &frame);
        assert!(fifth.as_ptr() != third.as_ptr() && fifth.as_ptr() != fourth.as_ptr());
        assert!(third.iter().all(|b| *b == 9) && fourth.iter().all(|b| *b == 9));
    }

    #[test]
    fn partial_then_whole() {
        let mut d = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1][..]);
        assert!(d.decode(&mut buf).expect("ok").is_none());
        buf.extend_from_slice(&[2, 3, 0, 0]);
        let frame = d.decode(&mut buf).expect("ok").expect("frame");
        assert_eq!(&frame[..], &[1, 2, 3]);
        assert_eq!(&buf[..], &[0, 0]);
        assert!(d.decode(&mut buf).expect("ok").is_none());
    }

    #[test]
    fn refuses_bad_sizes_before_reserving() {
        let mut d = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&101i32.to_be_bytes()[..]);
        let cap = buf.capacity();
        assert!(matches!(
            d.decode(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(buf.capacity(), cap);
        let mut buf = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert!(matches!(d.decode(&mut buf), Err(FrameError::Negative(-5))));
        let mut buf = BytesMut::from(&0i32.to_be_bytes()[..]);
        assert!(matches!(d.decode(&mut buf), Err(FrameError::Empty)));
        let mut buf = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert!(matches!(
            d.decode(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
    }
}
