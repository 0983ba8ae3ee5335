//! Cloudflare API v4 DNS-records types and client (reqwest over rustls).
//!
//! The same types are served by [`super::cloudflare_fake`], so the client
//! is exercised end to end in the lab and talks to the real API unchanged.
//! Responses are decoded leniently (unknown fields ignored): the real API
//! returns many fields this harness does not use.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::secret::Secret;

/// The envelope every v4 response uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    #[serde(default)]
    pub messages: Vec<ApiMessage>,
    pub result: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_info: Option<ResultInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    pub code: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultInfo {
    pub page: u32,
    pub per_page: u32,
    pub count: u32,
    pub total_count: u32,
    pub total_pages: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub status: String,
}

/// A DNS record as the API returns it. `ttl` 1 means "automatic".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub content: String,
    pub proxied: bool,
    pub proxiable: bool,
    pub ttl: u32,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub created_on: String,
    #[serde(default)]
    pub modified_on: String,
}

/// Body of POST / PUT (full) and PATCH (any subset) requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub rtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl RecordInput {
    pub fn new(rtype: &str, name: &str, content: &str) -> Self {
        RecordInput {
            name: Some(name.to_string()),
            rtype: Some(rtype.to_string()),
            content: Some(content.to_string()),
            ..Default::default()
        }
    }

    pub fn proxied(mut self, p: bool) -> Self {
        self.proxied = Some(p);
        self
    }

    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// Filters for listing records (exact matches, as the API's defaults are).
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub name: Option<String>,
    pub rtype: Option<String>,
    pub content: Option<String>,
}

/// A client for one API base URL (`https://api.cloudflare.com/client/v4`
/// in production, the fake's URL in the lab) and one API token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Secret,
    per_page: u32,
}

const PER_PAGE: u32 = 100;

impl Client {
    pub fn new(base: &str, token: Secret) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Http(format!("failed to build http client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            per_page: PER_PAGE,
        })
    }

    /// Page size for listings (the API default is 100).
    pub fn with_per_page(mut self, n: u32) -> Self {
        self.per_page = n.max(1);
        self
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Envelope<T>> {
        let resp = req
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| Error::Http(crate::secret::redact(&format!("failed to {what}: {e}"))))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| Error::Http(format!("failed to read the response to {what}: {e}")))?;
        let env: Envelope<T> = serde_json::from_str(&body).map_err(|e| {
            // Redact the whole body before cutting it: a token straddling
            // the cut would otherwise leak its prefix.
            let body = crate::secret::redact(&body);
            Error::Http(format!(
                "failed to {what}: http {status} with an unexpected body ({e}): {}",
                body.chars().take(300).collect::<String>()
            ))
        })?;
        if !env.success || !(200..300).contains(&status) {
            return Err(Error::Api {
                what: what.to_string(),
                status,
                errors: env.errors,
            });
        }
        Ok(env)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The id of the zone named `name`.
    pub async fn zone_id(&self, name: &str) -> Result<String> {
        let req = self.http.get(self.url("/zones")).query(&[("name", name)]);
        let env: Envelope<Vec<Zone>> = self.call(req, &format!("look up zone {name}")).await?;
        env.result
            .unwrap_or_default()
            .into_iter()
            .find(|z| z.name == name)
            .map(|z| z.id)
            .ok_or_else(|| Error::NotFound(format!("zone {name}")))
    }

    /// All records matching `filter`, following pagination.
    pub async fn list_records(&self, zone_id: &str, filter: &RecordFilter) -> Result<Vec<DnsRecord>> {
        let mut all = Vec::new();
        let mut page = 1u32;
        loop {
            let mut q: Vec<(&str, String)> = vec![("page", page.to_string()), ("per_page", self.per_page.to_string())];
            if let Some(n) = &filter.name {
                q.push(("name", n.clone()));
            }
            if let Some(t) = &filter.rtype {
                q.push(("type", t.clone()));
            }
            if let Some(c) = &filter.content {
                q.push(("content", c.clone()));
            }
            let req = self.http.get(self.url(&format!("/zones/{zone_id}/dns_records"))).query(&q);
            let env: Envelope<Vec<DnsRecord>> = self.call(req, "list dns records").await?;
            all.extend(env.result.unwrap_or_default());
            match env.result_info {
                Some(info) if info.page < info.total_pages => page = info.page + 1,
                _ => return Ok(all),
            }
            if page > 1000 {
                return Err(Error::Http("failed to list dns records: more than 1000 pages".into()));
            }
        }
    }

    pub async fn get_record(&self, zone_id: &str, id: &str) -> Result<DnsRecord> {
        let req = self.http.get(self.url(&format!("/zones/{zone_id}/dns_records/{id}")));
        let env: Envelope<DnsRecord> = self.call(req, &format!("get dns record {id}")).await?;
        env.result.ok_or_else(|| Error::NotFound(format!("dns record {id}")))
    }

    pub async fn create_record(&self, zone_id: &str, input: &RecordInput) -> Result<DnsRecord> {
        let req = self.http.post(self.url(&format!("/zones/{zone_id}/dns_records"))).json(input);
        let env: Envelope<DnsRecord> = self.call(req, "create dns record").await?;
        env.result.ok_or_else(|| Error::Http("create returned no record".into()))
    }

    /// Full replacement (PUT).
    pub async fn update_record(&self, zone_id: &str, id: &str, input: &RecordInput) -> Result<DnsRecord> {
        let req = self.http.put(self.url(&format!("/zones/{zone_id}/dns_records/{id}"))).json(input);
        let env: Envelope<DnsRecord> = self.call(req, &format!("update dns record {id}")).await?;
        env.result.ok_or_else(|| Error::Http("update returned no record".into()))
    }

    /// Partial update (PATCH).
    pub async fn patch_record(&self, zone_id: &str, id: &str, input: &RecordInput) -> Result<DnsRecord> {
        let req = self.http.patch(self.url(&format!("/zones/{zone_id}/dns_records/{id}"))).json(input);
        let env: Envelope<DnsRecord> = self.call(req, &format!("patch dns record {id}")).await?;
        env.result.ok_or_else(|| Error::Http("patch returned no record".into()))
    }

    pub async fn delete_record(&self, zone_id: &str, id: &str) -> Result<()> {
        let req = self.http.delete(self.url(&format!("/zones/{zone_id}/dns_records/{id}")));
        let _: Envelope<serde_json::Value> = self.call(req, &format!("delete dns record {id}")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An API that echoes the token in a non-JSON body, placed so the
    /// 300-character cut falls inside it: no part of it may reach the error.
    #[tokio::test]
    async fn an_unexpected_body_is_redacted_before_it_is_cut() {
        let token = "cf-canary-0123456789abcdefghij";
        let body = format!("{}{token}{}", "x".repeat(285), "y".repeat(50));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let served = body.clone();
        tokio::spawn(async move {
            if let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{served}",
                    served.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        let client = Client::new(&format!("http://{addr}"), Secret::new(token.to_owned())).unwrap_or_else(|e| panic!("{e}"));
        let err = client.zone_id("example.com").await.expect_err("non-JSON body").to_string();
        assert!(err.contains("unexpected body"), "{err}");
        assert!(!err.contains("cf-canary"), "token prefix leaked: {err}");
    }
}
