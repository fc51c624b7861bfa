//! The one way a timestamp is written for people and clients: RFC 3339 in UTC with milliseconds, as the
//! frames, the pages, the API, the admin and the exports show it.

use time::OffsetDateTime;

/// Formats milliseconds since the epoch as RFC 3339 UTC with millisecond precision.
///
/// Written digit by digit into a fixed buffer: every message frame carries one, and through `format!`
/// it was half the cost of encoding a frame (issue 22's profile of fan-out).
pub fn rfc3339_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let Ok(year) = u16::try_from(t.year()) else {
        return formatted(t);
    };
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let fields = [
        (0, 4, u32::from(year)),
        (5, 2, u32::from(u8::from(t.month()))),
        (8, 2, u32::from(t.day())),
        (11, 2, u32::from(t.hour())),
        (14, 2, u32::from(t.minute())),
        (17, 2, u32::from(t.second())),
        (20, 3, u32::from(t.millisecond())),
    ];
    for (at, width, mut value) in fields {
        for digit in out[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    match std::str::from_utf8(&out) {
        Ok(text) if year <= 9999 => text.to_owned(),
        _ => formatted(t),
    }
}

/// The same through `format!`, for years outside 0 - 9999.
fn formatted(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert!(
            OffsetDateTime::parse(
                &rfc3339_ms(1_795_000_000_123),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok()
        );
    }

    #[test]
    fn the_digit_writer_agrees_with_format_everywhere() {
        let mut ms: i64 = -62_000_000_000_000;
        while ms < 260_000_000_000_000 {
            let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            assert_eq!(rfc3339_ms(ms), formatted(t), "{ms}");
            ms += 7_777_777_777_777 / 1000 + 123;
        }
        assert_eq!(
            rfc3339_ms(i64::MAX),
            "1970-01-01T00:00:00.000Z",
            "out of range: the epoch"
        );
    }
}
