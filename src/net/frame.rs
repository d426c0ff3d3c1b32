//! Framing: Kafka's 4-byte big-endian size prefix, then that many bytes of request.
//!
//! The decoder yields each request as a zero-copy [`Bytes`] (header + body). The maximum request
//! size (`socket.request.max.bytes`) is enforced on the prefix alone, before any buffer is
//! reserved, so a client cannot make the broker allocate by announcing a huge frame. A partial
//! frame is not an error: the decoder reserves what the frame still needs and waits.

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
}

impl FrameDecoder {
    pub fn new(max_frame: usize) -> FrameDecoder {
        FrameDecoder { max_frame }
    }
}

/// Smallest read-ahead reservation for a partial frame (see `decode`).
const RESERVE_STEP: usize = 64 * 1024;

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
            // Only now, with the size known to be acceptable, make room for more — but in step
            // with what has arrived (at most doubling it, at least 64 KiB), so that a client
            // announcing a large frame and sending a few bytes holds a few bytes of memory, not
            // the announced size.
            let missing = 4 + size - src.len();
            src.reserve(missing.min(src.len().max(RESERVE_STEP)));
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
        assert!(buf.capacity() <= 2 * RESERVE_STEP, "{}", buf.capacity());
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
