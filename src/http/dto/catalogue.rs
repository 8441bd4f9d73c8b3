//! Products, as the catalogue routes show and take them.

use crate::domain::catalogue::Product;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `PUT /admin/products/{sku}`: the whole product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutProductBody {
    /// 1–100 characters.
    #[schema(example = "White T-shirt (M)", min_length = 1, max_length = 100)]
    pub name: String,
    /// KRW per unit (no minor unit): 1–100,000,000.
    #[serde(deserialize_with = "super::whole_number")]
    #[schema(value_type = i64, minimum = 1, maximum = 100000000, example = 19000)]
    pub unit_price: i64,
    /// An inactive product can no longer be ordered (default true).
    #[serde(default)]
    #[schema(example = true)]
    pub active: Option<bool>,
}

/// A product.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    #[schema(example = "tee-white-m")]
    pub sku: String,
    pub name: String,
    #[schema(example = 19000)]
    pub unit_price: u64,
    /// Always `KRW`.
    #[schema(example = "KRW")]
    pub currency: &'static str,
    pub active: bool,
    pub updated_at: String,
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        Self {
            sku: p.sku.as_str().to_owned(),
            name: p.name.clone(),
            unit_price: p.unit_price,
            currency: "KRW",
            active: p.active,
            updated_at: p.updated_at.to_rfc3339(),
        }
    }
}

/// Active products, by sku.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// `GET /products`: paging by sku.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListProductsQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only skus after this one.
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    pub after: Option<String>,
}
