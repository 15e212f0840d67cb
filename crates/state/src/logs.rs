//! Attempt logs: text chunks appended while the attempt runs, read back from a byte offset
//! (so a reader can follow a running attempt).

use sqlx::Row;

use crate::{Result, Store, StoreError};

/// Part of an attempt's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogSlice {
    /// The log from the requested offset to what is stored now.
    pub text: String,
    /// Byte offset to ask for next time to get only what is new.
    pub next_offset: u64,
}

impl Store {
    /// Appends `text` to the log of attempt `try_number` of task instance `ti_id`, at byte
    /// `offset` (the log's length so far, tracked by the single writer of an attempt's log).
    pub async fn append_log(
        &self,
        ti_id: i64,
        try_number: u32,
        offset: u64,
        text: &str,
    ) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        insert_chunk(&mut conn, ti_id, try_number, offset, text).await
    }

    /// The log of an attempt from byte `offset` on (0 = all of it).
    pub async fn read_log(&self, ti_id: i64, try_number: u32, offset: u64) -> Result<LogSlice> {
        let offset_i = to_i64(offset)?;
        // The chunk containing `offset` and every later one.
        let rows = sqlx::query(
            "SELECT start_offset, data FROM log_chunks WHERE ti_id = $1 AND try_number = $2 \
             AND start_offset >= (SELECT COALESCE(MAX(start_offset), 0) FROM log_chunks \
                                  WHERE ti_id = $1 AND try_number = $2 AND start_offset <= $3) \
             ORDER BY start_offset",
        )
        .bind(ti_id)
        .bind(i64::from(try_number))
        .bind(offset_i)
        .fetch_all(&self.pool)
        .await?;
        let mut slice = LogSlice {
            text: String::new(),
            next_offset: offset,
        };
        for row in rows {
            let start: i64 = row.try_get("start_offset")?;
            let data: String = row.try_get("data")?;
            let start = u64::try_from(start)
                .map_err(|_| StoreError::Corrupt(format!("log offset {start}")))?;
            let end = start + data.len() as u64;
            if end <= slice.next_offset {
                continue;
            }
            // Offsets handed out are chunk boundaries; a caller's arbitrary offset is rounded
            // down to a character boundary so the text stays valid UTF-8.
            let mut skip = usize::try_from(slice.next_offset.saturating_sub(start)).unwrap_or(0);
            while skip > 0 && !data.is_char_boundary(skip) {
                skip -= 1;
            }
            slice.text.push_str(&data[skip..]);
            slice.next_offset = end;
        }
        Ok(slice)
    }
}

pub(crate) fn to_i64(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("offset {value} too large")))
}

pub(crate) async fn insert_chunk(
    conn: &mut sqlx::AnyConnection,
    ti_id: i64,
    try_number: u32,
    offset: u64,
    text: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO log_chunks (ti_id, try_number, start_offset, data) VALUES ($1, $2, $3, $4)",
    )
    .bind(ti_id)
    .bind(i64::from(try_number))
    .bind(to_i64(offset)?)
    .bind(text)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
