//! Which partition of `__consumer_offsets` holds a group: Kafka's rule, so that a data directory
//! Kafka wrote (and one sluice writes for Kafka) finds each group where the other put it.
//!
//! ```text
//! partition = Utils.abs(groupId.hashCode()) % partitionCount
//! String.hashCode = s[0]·31^(n-1) + … + s[n-1]   over UTF-16 code units, int32 wrapping
//! Utils.abs(n)    = n == Integer.MIN_VALUE ? 0 : Math.abs(n)
//! ```

/// Java's `String.hashCode`: over UTF-16 code units (a character outside the BMP counts as
/// its two surrogates), with int32 overflow.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: `Integer.MIN_VALUE` maps to 0 (`Math.abs` would leave it negative).
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The `__consumer_offsets` partition of `group` among `partitions` (at least 1).
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    kafka_abs(java_string_hash(group)) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_code_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        // "hello".hashCode() in Java.
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // Overflowing: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // A supplementary character is two UTF-16 units: U+1F600 = D83D DE00.
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
        // "é" is one unit (U+00E9), not its two UTF-8 bytes.
        assert_eq!(java_string_hash("é"), 0xE9);
    }

    #[test]
    fn partition_rule() {
        assert_eq!(kafka_abs(i32::MIN), 0);
        assert_eq!(kafka_abs(-5), 5);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        // A negative hash: "hellohellohello" overflows to a negative int.
        let h = java_string_hash("hellohellohello");
        assert!(h < 0);
        assert_eq!(partition_for("hellohellohello", 50), (-h) % 50);
        assert_eq!(partition_for("anything", 1), 0);
    }
}
