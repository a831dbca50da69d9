//! SQL text with its values written in as MySQL literals, for statements whose values are all
//! numbers, times, bytes and country codes: nothing a sender gives as text ever goes in, so
//! nothing needs escaping. Bytes are hex (`X'..'`), times `'YYYY-MM-DD HH:MM:SS.ffffff'` (UTC,
//! as a `DATETIME(6)` holds them), a missing value `NULL`.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The width of a blank left for an id written in later ([`fill_ids`]): every `i64` fits.
pub const ID_WIDTH: usize = 20;

/// SQL text being written.
pub struct Text(String);

impl Text {
    pub fn with_capacity(bytes: usize) -> Text {
        Text(String::with_capacity(bytes))
    }

    /// `INSERT INTO table (columns) VALUES `, the names the program's own.
    pub fn insert_into(&mut self, table: &'static str, columns: &[&'static str]) {
        let _ = write!(self.0, "INSERT INTO `{table}` (");
        for (i, c) in columns.iter().enumerate() {
            let _ = write!(self.0, "{}`{c}`", if i == 0 { "" } else { ", " });
        }
        self.0.push_str(") VALUES ");
    }

    /// SQL as it is: only ever text of the program's own.
    pub fn raw(&mut self, sql: &'static str) {
        self.0.push_str(sql);
    }

    pub fn int(&mut self, n: impl Into<i64>) {
        // Writing into a `String` cannot fail.
        let _ = write!(self.0, "{}", n.into());
    }

    pub fn opt_int(&mut self, n: Option<impl Into<i64>>) {
        match n {
            Some(n) => self.int(n),
            None => self.0.push_str("NULL"),
        }
    }

    /// `at` as a `DATETIME(6)` literal, to the microsecond (a leap second's fraction is
    /// capped at .999999, as the column cannot hold :60).
    pub fn time(&mut self, at: DateTime<Utc>) {
        let t = at.naive_utc();
        let _ = write!(
            self.0,
            "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}'",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            (t.nanosecond() / 1000).min(999_999)
        );
    }

    /// Bytes as a hex literal.
    pub fn hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        self.0.reserve(bytes.len() * 2 + 3);
        self.0.push_str("X'");
        for b in bytes {
            self.0.push(char::from(DIGITS[usize::from(b >> 4)]));
            self.0.push(char::from(DIGITS[usize::from(b & 0xF)]));
        }
        self.0.push('\'');
    }

    /// An ISO country code: two ASCII letters, quoted. [`crate::geoip::Origin`] holds only
    /// such codes; anything else is no country, so `NULL`.
    pub fn country(&mut self, code: Option<[u8; 2]>) {
        match code {
            Some([a, b]) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                self.0.push('\'');
                self.0.push(char::from(a));
                self.0.push(char::from(b));
                self.0.push('\'');
            }
            _ => self.0.push_str("NULL"),
        }
    }

    /// Leaves a blank [`ID_WIDTH`] wide for an id, and says where it starts.
    pub fn blank_id(&mut self) -> usize {
        let at = self.0.len();
        self.0.push_str(&" ".repeat(ID_WIDTH));
        at
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Writes `id` into each blank of `sql` that starts at one of `at` (left over from
/// [`Text::blank_id`]; an id written before is overwritten).
pub fn fill_ids(sql: &mut String, at: &[usize], id: i64) {
    let id = format!("{id:<ID_WIDTH$}");
    for &start in at {
        sql.replace_range(start..start + ID_WIDTH, &id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_are_written_as_mysql_literals() {
        let mut t = Text::with_capacity(0);
        t.raw("(");
        t.int(-7i16);
        t.raw(",");
        t.opt_int(None::<i32>);
        t.raw(",");
        t.opt_int(Some(65535u16));
        t.raw(",");
        let at =
            Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap() + chrono::Duration::microseconds(89);
        t.time(at);
        t.raw(",");
        t.hex(&[0x00, 0xAB, 0x0F, 0xFF]);
        t.raw(",");
        t.country(Some(*b"DE"));
        t.raw(",");
        t.country(Some(*b"'x"));
        t.raw(",");
        t.country(None);
        t.raw(")");
        assert_eq!(
            t.into_string(),
            "(-7,NULL,65535,'2026-03-04 05:06:07.000089',X'00AB0FFF','DE',NULL,NULL)"
        );
    }

    #[test]
    fn ids_fill_their_blanks_and_can_be_written_again() {
        let mut t = Text::with_capacity(0);
        t.raw("(");
        let first = t.blank_id();
        t.raw("),(");
        let second = t.blank_id();
        t.raw(")");
        let at = [first, second];
        let mut sql = t.into_string();
        fill_ids(&mut sql, &at, 123_456_789_012);
        fill_ids(&mut sql, &at, 42);
        let pad = " ".repeat(ID_WIDTH - 2);
        assert_eq!(sql, format!("(42{pad}),(42{pad})"));
        fill_ids(&mut sql, &at, i64::MIN);
        assert_eq!(sql, format!("({}),({})", i64::MIN, i64::MIN));
    }
}
