//! Reading compressed record batches, for the few checks that must look inside one (a
//! compacted topic's record keys, a topic's timestamp bounds). Batches are still stored and
//! served as the producer compressed them: nothing here writes.
//!
//! Kafka's codecs, by the batch's attribute bits 0-2:
//!
//! | bits | codec | framing |
//! |---|---|---|
//! | 1 | gzip | a gzip stream |
//! | 2 | snappy | xerial's (`\x82SNAPPY\0`, two 4-byte versions, then blocks of 4-byte length + raw snappy), as the Java client writes it; or one raw snappy block, as librdkafka writes it |
//! | 3 | lz4 | an LZ4 frame |
//! | 4 | zstd | a zstd frame |
//!
//! Every decoder streams: memory stays bounded whatever the compressed bytes claim, except a
//! snappy block, which is at most [`MAX_SNAPPY_BLOCK`] bytes once decompressed.

use std::io::{self, Read};

pub const GZIP: i16 = 1;
pub const SNAPPY: i16 = 2;
pub const LZ4: i16 = 3;
pub const ZSTD: i16 = 4;

/// The largest decompressed snappy block accepted. A producer's batch is one block (librdkafka)
/// or blocks of 32 KiB (the Java client's default); no batch a broker accepts comes near it.
pub const MAX_SNAPPY_BLOCK: usize = 64 << 20;

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic, version, compatible version.
const XERIAL_HEADER_LEN: usize = 16;

/// A reader of the decompressed bytes of `data`, compressed with `codec` (attribute bits 0-2).
pub fn decoder<'a>(codec: i16, data: &'a [u8]) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match codec {
        GZIP => Box::new(flate2::read::GzDecoder::new(data)),
        SNAPPY => Box::new(SnappyReader::new(data)),
        LZ4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
        ZSTD => Box::new(zstd::stream::read::Decoder::with_buffer(data)?),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown compression codec {other}"),
            ))
        }
    })
}

/// Snappy as Kafka's clients write it: xerial's block stream, or one raw block.
struct SnappyReader<'a> {
    /// Compressed bytes not yet decompressed.
    rest: &'a [u8],
    /// `rest` is xerial blocks (else one raw block).
    xerial: bool,
    /// The block being read, and how much of it was.
    block: Vec<u8>,
    read: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8]) -> SnappyReader<'a> {
        let xerial = data.len() >= XERIAL_HEADER_LEN && data[..8] == XERIAL_MAGIC;
        SnappyReader {
            rest: if xerial {
                &data[XERIAL_HEADER_LEN..]
            } else {
                data
            },
            xerial,
            block: Vec::new(),
            read: 0,
        }
    }

    /// Decompresses the next block into `block`; false at the end.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let compressed = if self.xerial {
            let invalid = || io::Error::new(io::ErrorKind::InvalidData, "truncated snappy block");
            let len_bytes: [u8; 4] = self
                .rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(invalid)?;
            let len = u32::from_be_bytes(len_bytes) as usize;
            let block = self.rest.get(4..4 + len).ok_or_else(invalid)?;
            self.rest = &self.rest[4 + len..];
            block
        } else {
            std::mem::take(&mut self.rest)
        };
        let len = snap::raw::decompress_len(compressed).map_err(invalid_data)?;
        if len > MAX_SNAPPY_BLOCK {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("snappy block of {len} bytes, above {MAX_SNAPPY_BLOCK}"),
            ));
        }
        self.block.resize(len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(compressed, &mut self.block)
            .map_err(invalid_data)?;
        self.block.truncate(n);
        self.read = 0;
        Ok(true)
    }
}

fn invalid_data(e: snap::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.read == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.read);
        buf[..n].copy_from_slice(&self.block[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(codec: i16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decoder(codec, data)
            .and_then(|mut d| d.read_to_end(&mut out))
            .expect("decompress");
        out
    }

    #[test]
    fn every_codec_round_trips() {
        let plain: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).expect("gzip");
        assert_eq!(read_all(GZIP, &gz.finish().expect("gzip")), plain);

        let raw = snap::raw::Encoder::new()
            .compress_vec(&plain)
            .expect("snappy");
        assert_eq!(read_all(SNAPPY, &raw), plain, "raw snappy (librdkafka)");
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for chunk in plain.chunks(32 << 10) {
            let block = snap::raw::Encoder::new()
                .compress_vec(chunk)
                .expect("snappy");
            xerial.extend_from_slice(&(block.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&block);
        }
        assert_eq!(read_all(SNAPPY, &xerial), plain, "xerial blocks (Java)");

        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(&plain).expect("lz4");
        assert_eq!(read_all(LZ4, &lz4.finish().expect("lz4")), plain);

        let zstd = zstd::stream::encode_all(&plain[..], 3).expect("zstd");
        assert_eq!(read_all(ZSTD, &zstd), plain);
    }

    #[test]
    fn damaged_input_is_an_error_not_a_panic() {
        for codec in [GZIP, SNAPPY, LZ4, ZSTD] {
            for data in [
                &b""[..],
                b"\x00",
                b"garbage that is no stream",
                &XERIAL_MAGIC,
            ] {
                let mut out = Vec::new();
                let _ = decoder(codec, data).and_then(|mut d| d.read_to_end(&mut out));
            }
        }
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1]);
        let mut out = Vec::new();
        assert!(decoder(SNAPPY, &xerial)
            .and_then(|mut d| d.read_to_end(&mut out))
            .is_err());
        assert!(decoder(5, b"").is_err());
    }
}
