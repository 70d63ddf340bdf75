//! What the PostgreSQL migrations leave that SQLite has by nature.

mod postgres {
    use smsflow_testkit::db::{test_store, TestBackend};
    use sqlx::Row;

    /// Text compares bytewise, as SQLite's BINARY collation does, whatever
    /// the database's own collation: ids sort the same on both backends and
    /// index probes skip strcoll (migration 0012). A migration that adds a
    /// text column without `COLLATE "C"` fails here.
    #[tokio::test]
    async fn every_text_column_compares_bytewise() {
        let (store, _db) = test_store(TestBackend::Postgres).await;
        let rows = sqlx::query(
            "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND data_type = 'text' \
             AND table_name NOT LIKE '\\_sqlx%' AND collation_name IS DISTINCT FROM 'C' \
             ORDER BY 1, 2",
        )
        .fetch_all(store.pool())
        .await
        .expect("read the schema's text columns");
        let locale: Vec<String> = rows
            .iter()
            .map(|r| format!("{}.{}", r.get::<String, _>("t"), r.get::<String, _>("c")))
            .collect();
        assert!(
            locale.is_empty(),
            "text columns compared by the database's locale: {locale:?}"
        );
        let bytewise: i64 = sqlx::query(
            "SELECT CAST(count(*) AS BIGINT) AS n FROM information_schema.columns \
             WHERE table_schema = current_schema() AND data_type = 'text' \
             AND table_name NOT LIKE '\\_sqlx%'",
        )
        .fetch_one(store.pool())
        .await
        .expect("count the schema's text columns")
        .get("n");
        assert!(
            bytewise > 100,
            "the schema has only {bytewise} text columns"
        );
        store.close().await;
    }
}
