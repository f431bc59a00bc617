//! The `certificates` and `acme_accounts` tables. An ACME row's state has one
//! writer, the certificate task; its writes are guarded on the generation it read.

use domain::wire::{CertSource, CertState};
use sqlx::Row;

use super::{json_column, to_json_column, unreadable, Run, Sealed, Store, StoreError};

/// A certificate as stored (its key still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRow {
    pub host: String,
    pub team_id: Option<i64>,
    pub source: CertSource,
    pub state: CertState,
    pub chain_pem: Option<String>,
    pub key: Option<Sealed>,
    pub issuer: Option<String>,
    pub names: Vec<String>,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub renew_at: Option<i64>,
    pub ari_next: Option<i64>,
    pub problem: Option<String>,
    pub failures: i64,
    pub last_attempt: Option<i64>,
    pub next_attempt: Option<i64>,
    pub generation: i64,
}

/// A certificate and its sealed key, as issued or uploaded.
#[derive(Debug, Clone)]
pub struct Issued {
    pub chain_pem: String,
    pub key: Sealed,
    pub issuer: Option<String>,
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
}

fn row(r: &sqlx::any::AnyRow) -> Result<CertRow, sqlx::Error> {
    let source: String = r.try_get("source")?;
    let state: String = r.try_get("state")?;
    let nonce: Option<Vec<u8>> = r.try_get("key_nonce")?;
    let sealed: Option<Vec<u8>> = r.try_get("key_sealed")?;
    let names: String = r.try_get("names")?;
    Ok(CertRow {
        host: r.try_get("host")?,
        team_id: r.try_get("team_id")?,
        source: CertSource::parse(&source).ok_or_else(|| unreadable("source", &source))?,
        state: CertState::parse(&state).ok_or_else(|| unreadable("state", &state))?,
        chain_pem: r.try_get("chain_pem")?,
        key: nonce
            .zip(sealed)
            .map(|(nonce, ciphertext)| Sealed { nonce, ciphertext }),
        issuer: r.try_get("issuer")?,
        names: json_column("names", &names)?,
        not_before: r.try_get("not_before")?,
        not_after: r.try_get("not_after")?,
        renew_at: r.try_get("renew_at")?,
        ari_next: r.try_get("ari_next")?,
        problem: r.try_get("problem")?,
        failures: r.try_get("failures")?,
        last_attempt: r.try_get("last_attempt")?,
        next_attempt: r.try_get("next_attempt")?,
        generation: r.try_get("generation")?,
    })
}

impl Store {
    /// Every certificate, by host.
    pub async fn list_certs(&self) -> Result<Vec<CertRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM certificates ORDER BY host")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// One certificate.
    pub async fn cert(&self, host: &str) -> Result<Option<CertRow>, StoreError> {
        let r = sqlx::query("SELECT * FROM certificates WHERE host = $1")
            .bind(host)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    /// A certificate to order for a route's host; nothing when the host has one.
    pub async fn want_acme_cert(
        &self,
        host: &str,
        team_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO certificates (host, team_id, source, state, next_attempt, created_at, updated_at) \
             VALUES ($1, $2, 'acme', 'ordering', $3, $4, $5) ON CONFLICT (host) DO NOTHING",
        )
        .bind(host)
        .bind(team_id)
        .bind(now)
        .bind(now)
        .bind(now)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An order (or renewal) begins: `ordering` for a host without a certificate,
    /// `renewing` for one that has one; the next attempt is set to `lease` first,
    /// so a Berth that stops mid-order does not order again at once when it starts.
    /// False when the row moved meanwhile.
    pub async fn begin_cert_order(
        &self,
        host: &str,
        generation: i64,
        now: i64,
        lease: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE certificates SET state = CASE WHEN chain_pem IS NULL THEN 'ordering' ELSE 'renewing' END, \
             last_attempt = $1, next_attempt = $2, updated_at = $3 WHERE host = $4 AND generation = $5 AND source = 'acme'",
        )
        .bind(now)
        .bind(lease)
        .bind(now)
        .bind(host)
        .bind(generation)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A certificate issued for an ACME row: served from now on, the next
    /// generation. False when the row moved meanwhile (an upload, a delete).
    pub async fn cert_issued(
        &self,
        host: &str,
        generation: i64,
        issued: &Issued,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE certificates SET state = 'valid', chain_pem = $1, key_nonce = $2, key_sealed = $3, \
             issuer = $4, names = $5, not_before = $6, not_after = $7, renew_at = NULL, ari_next = NULL, \
             problem = NULL, failures = 0, next_attempt = NULL, generation = generation + 1, updated_at = $8 \
             WHERE host = $9 AND generation = $10 AND source = 'acme'",
        )
        .bind(&issued.chain_pem)
        .bind(&issued.key.nonce)
        .bind(&issued.key.ciphertext)
        .bind(&issued.issuer)
        .bind(to_json_column(&issued.names)?)
        .bind(issued.not_before)
        .bind(issued.not_after)
        .bind(now)
        .bind(host)
        .bind(generation)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An order failed: the problem in words and when to try again. A certificate
    /// already held stays served (its state goes back to what it was until it
    /// ends); a host without one is `failed`.
    pub async fn cert_failed(
        &self,
        host: &str,
        generation: i64,
        problem: &str,
        next_attempt: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE certificates SET state = 'failed', problem = $1, failures = failures + 1, \
             next_attempt = $2, updated_at = $3 WHERE host = $4 AND generation = $5 AND source = 'acme'",
        )
        .bind(problem)
        .bind(next_attempt)
        .bind(now)
        .bind(host)
        .bind(generation)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// What the CA's renewal information said: renew at `renew_at`, ask again at
    /// `ari_next`.
    pub async fn cert_renewal_info(
        &self,
        host: &str,
        generation: i64,
        renew_at: Option<i64>,
        ari_next: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE certificates SET renew_at = COALESCE($1, renew_at), ari_next = $2 \
             WHERE host = $3 AND generation = $4 AND source = 'acme'",
        )
        .bind(renew_at)
        .bind(ari_next)
        .bind(host)
        .bind(generation)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An uploaded certificate for a host, in place of whatever it had.
    pub async fn put_uploaded_cert(
        &self,
        host: &str,
        team_id: Option<i64>,
        issued: &Issued,
        generation: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO certificates (host, team_id, source, state, chain_pem, key_nonce, key_sealed, issuer, \
             names, not_before, not_after, generation, created_at, updated_at) \
             VALUES ($1, $2, 'uploaded', 'valid', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (host) DO UPDATE SET team_id = excluded.team_id, source = 'uploaded', state = 'valid', \
             chain_pem = excluded.chain_pem, key_nonce = excluded.key_nonce, key_sealed = excluded.key_sealed, \
             issuer = excluded.issuer, names = excluded.names, not_before = excluded.not_before, \
             not_after = excluded.not_after, renew_at = NULL, ari_next = NULL, problem = NULL, failures = 0, \
             last_attempt = NULL, next_attempt = NULL, generation = excluded.generation, updated_at = excluded.updated_at",
        )
        .bind(host)
        .bind(team_id)
        .bind(&issued.chain_pem)
        .bind(&issued.key.nonce)
        .bind(&issued.key.ciphertext)
        .bind(&issued.issuer)
        .bind(to_json_column(&issued.names)?)
        .bind(issued.not_before)
        .bind(issued.not_after)
        .bind(generation)
        .bind(now)
        .bind(now)
        .run(self)
        .await?;
        Ok(())
    }

    /// The next generation for a host (its key is sealed bound to it).
    pub async fn next_cert_generation(&self, host: &str) -> Result<i64, StoreError> {
        let g: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM certificates WHERE host = $1")
                .bind(host)
                .fetch_optional(&self.pool)
                .await?;
        Ok(g.map_or(1, |g| g + 1))
    }

    /// Deletes the row as it was read (its generation and team): false when it
    /// changed meanwhile (an order came, it passed to another team).
    pub async fn delete_cert_at(
        &self,
        host: &str,
        generation: i64,
        team_id: Option<i64>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM certificates WHERE host = $1 AND generation = $2 AND team_id IS NOT DISTINCT FROM $3",
        )
        .bind(host)
        .bind(generation)
        .bind(team_id)
        .run(self)
        .await?
        .rows_affected()
            == 1)
    }

    /// An ACME row no route wants, serving nothing, is forgotten. False when the
    /// row moved meanwhile.
    pub async fn forget_acme_cert(&self, host: &str, generation: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM certificates WHERE host = $1 AND generation = $2 AND source = 'acme'",
        )
        .bind(host)
        .bind(generation)
        .run(self)
        .await?
        .rows_affected()
            == 1)
    }

    /// An ACME row passes to the team whose service routes its host now.
    pub async fn reown_acme_cert(
        &self,
        host: &str,
        generation: i64,
        team_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE certificates SET team_id = $1, updated_at = $2 \
             WHERE host = $3 AND generation = $4 AND source = 'acme'",
        )
        .bind(team_id)
        .bind(now)
        .bind(host)
        .bind(generation)
        .run(self)
        .await?
        .rows_affected()
            == 1)
    }

    /// Tries a failed ACME order again now (a person asked).
    pub async fn retry_cert(&self, host: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE certificates SET next_attempt = $1, renew_at = CASE WHEN state = 'failed' THEN renew_at ELSE $2 END, \
             updated_at = $3 WHERE host = $4 AND source = 'acme'",
        )
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(host)
        .run(self)
        .await?
        .rows_affected()
            == 1)
    }

    /// Berth's sealed account with an ACME directory.
    pub async fn acme_account(&self, directory: &str) -> Result<Option<Sealed>, StoreError> {
        let r = sqlx::query("SELECT nonce, sealed FROM acme_accounts WHERE directory = $1")
            .bind(directory)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| -> Result<Sealed, sqlx::Error> {
            Ok(Sealed {
                nonce: r.try_get("nonce")?,
                ciphertext: r.try_get("sealed")?,
            })
        })
        .transpose()?)
    }

    /// Keeps Berth's account with an ACME directory.
    pub async fn put_acme_account(
        &self,
        directory: &str,
        sealed: &Sealed,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO acme_accounts (directory, nonce, sealed, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (directory) DO UPDATE SET nonce = excluded.nonce, sealed = excluded.sealed",
        )
        .bind(directory)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now)
        .run(self)
        .await?;
        Ok(())
    }
}
