//! Keyset pagination for every list endpoint: items are ordered by (a timestamp, an id),
//! and the opaque cursor is the last item's key. A page continues strictly after the
//! key, so rows inserted meanwhile never shift items between pages: nothing is skipped
//! or repeated.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Page sizes: 1–100, 20 when not given.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// The position after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("cursor is not one this API returned")]
    BadCursor,
    #[error("limit must be between 1 and {MAX_LIMIT}")]
    BadLimit,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.at.timestamp_micros(), self.id.simple()))
    }

    pub fn decode(cursor: &str) -> Result<Self, PageError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| PageError::BadCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| PageError::BadCursor)?;
        let (micros, id) = text.split_once('.').ok_or(PageError::BadCursor)?;
        let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or(PageError::BadCursor)?;
        let id = Uuid::try_parse(id).map_err(|_| PageError::BadCursor)?;
        Ok(Self { at, id })
    }
}

/// A checked page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl Page {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, PageError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(PageError::BadLimit);
        }
        let after = cursor.filter(|c| !c.is_empty()).map(Cursor::decode).transpose()?;
        Ok(Self { limit, after })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the extra row off `rows` and returns the cursor of the next page, if any.
    pub fn finish<T>(&self, rows: &mut Vec<T>, key: impl Fn(&T) -> Cursor) -> Option<String> {
        if rows.len() <= self.limit as usize {
            return None;
        }
        rows.truncate(self.limit as usize);
        rows.last().map(|last| key(last).encode())
    }
}

impl From<PageError> for crate::ApiError {
    fn from(err: PageError) -> Self {
        crate::ApiError::invalid_request(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = Cursor { at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(), id: Uuid::new_v4() };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        for bad in ["", "!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("12.not-a-uuid")] {
            assert_eq!(Cursor::decode(bad), Err(PageError::BadCursor), "{bad}");
        }
    }

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert_eq!(Page::parse(None, None).unwrap().limit, 20);
        assert_eq!(Page::parse(Some(0), None).unwrap_err(), PageError::BadLimit);
        assert_eq!(Page::parse(Some(101), None).unwrap_err(), PageError::BadLimit);
    }

    #[test]
    fn finishing_a_page_drops_the_probe_row_and_points_past_the_last_item() {
        let page = Page::parse(Some(2), None).unwrap();
        let at = Utc::now();
        let ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let mut rows = ids.to_vec();
        let next = page.finish(&mut rows, |id| Cursor { at, id: *id });
        assert_eq!(rows, ids[..2]);
        assert_eq!(Cursor::decode(&next.unwrap()).unwrap().id, ids[1]);
        let mut short = vec![ids[0]];
        assert_eq!(page.finish(&mut short, |id| Cursor { at, id: *id }), None);
    }
}
