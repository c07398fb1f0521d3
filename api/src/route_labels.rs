//! The route pattern of a request, for metric labels, without matching the path against
//! every route a second time. actix's `match_pattern()` walks the resource map with a regex
//! per dynamic route; at tens of thousands of requests a second that walk cost as much as
//! the request itself. The answer depends only on the path's shape, so it is cached per path
//! with every all-digit segment (a seq, a size) written as `0`: no route has a literal
//! all-digit segment, so a path and its normalised form match the same route. Everything
//! under a dataset's `tile/` is one shape: the tile route takes the whole rest of the path
//! (`{tile:.*}`), and tile paths (`0/x001/234.p/17`) would otherwise make a shape of each tile.

use actix_web::HttpRequest;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// At most this many shapes are kept; beyond it the cache starts over (paths made up by a
/// client cost one match each, as before, and cannot grow memory).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct RouteLabels {
    shapes: RwLock<HashMap<String, Arc<str>>>,
}

impl RouteLabels {
    /// The pattern `req` was routed by, or `unmatched`.
    pub fn label(&self, req: &HttpRequest) -> Arc<str> {
        let shape = shape(req.path());
        if let Some(hit) = self
            .shapes
            .read()
            .expect("route labels")
            .get(shape.as_ref())
        {
            return hit.clone();
        }
        let label: Arc<str> = req
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into())
            .into();
        let mut shapes = self.shapes.write().expect("route labels");
        if shapes.len() >= CAPACITY {
            shapes.clear();
        }
        shapes.insert(shape.into_owned(), label.clone());
        label
    }
}

/// `path` with each non-empty all-digit segment replaced by `0` (borrowed when it has none),
/// and every path under a dataset's `tile/` one shape.
fn shape(path: &str) -> std::borrow::Cow<'_, str> {
    // Any `/v1/datasets/<inst>/<ds>/tile/<rest>` (non-empty slugs) is the tile route.
    let parts: Vec<&str> = path.splitn(7, '/').collect();
    if let ["", "v1", "datasets", inst, ds, "tile", _] = parts.as_slice()
        && !inst.is_empty()
        && !ds.is_empty()
    {
        return "/v1/datasets/*/*/tile/*".into();
    }
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !path.split('/').any(|s| numeric(s) && s != "0") {
        return path.into();
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if numeric(segment) {
            out.push('0');
        } else {
            out.push_str(segment);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    #[test]
    fn shapes_fold_numbers_only() {
        assert_eq!(
            shape("/v1/datasets/city/air/records/123/proof"),
            "/v1/datasets/city/air/records/0/proof"
        );
        assert_eq!(
            shape("/v1/datasets/2024/x1/records"),
            "/v1/datasets/0/x1/records"
        );
        assert_eq!(shape("/"), "/");
        assert_eq!(
            shape("/v1/datasets/city/air/tile/0/x001/234.p/17"),
            "/v1/datasets/*/*/tile/*"
        );
        assert_eq!(
            shape("/v1/datasets/city/air/tile/entries/005"),
            "/v1/datasets/*/*/tile/*"
        );
        assert_eq!(
            shape("/v1/datasets//air/tile/0/000"),
            "/v1/datasets//air/tile/0/0"
        );
        assert_eq!(shape("//a//"), "//a//");
    }

    /// The cached label is what actix's own matching says, for the first path of a shape and
    /// for every later one.
    #[actix_web::test]
    async fn labels_equal_actix_match_pattern() {
        let labels = web::Data::new(RouteLabels::default());
        let app = actix_test::init_service(
            App::new()
                .app_data(labels.clone())
                .route(
                    "/v1/datasets/{inst}/{ds}/records/{seq}/proof",
                    web::get().to(|req: HttpRequest| async move {
                        let labels = req.app_data::<web::Data<RouteLabels>>().unwrap();
                        assert_eq!(
                            labels.label(&req).as_ref(),
                            req.match_pattern().unwrap().as_str()
                        );
                        HttpResponse::Ok().body(labels.label(&req).to_string())
                    }),
                )
                .route(
                    "/v1/datasets/{inst}/{ds}/records/{seq}",
                    web::get().to(|req: HttpRequest| async move {
                        let labels = req.app_data::<web::Data<RouteLabels>>().unwrap();
                        HttpResponse::Ok().body(labels.label(&req).to_string())
                    }),
                )
                .route(
                    "/v1/datasets/{inst}/{ds}/tile/{tile:.*}",
                    web::get().to(|req: HttpRequest| async move {
                        let labels = req.app_data::<web::Data<RouteLabels>>().unwrap();
                        assert_eq!(
                            labels.label(&req).as_ref(),
                            req.match_pattern().unwrap().as_str()
                        );
                        HttpResponse::Ok().body(labels.label(&req).to_string())
                    }),
                ),
        )
        .await;
        for (path, want) in [
            (
                "/v1/datasets/city/air/records/5/proof",
                "/v1/datasets/{inst}/{ds}/records/{seq}/proof",
            ),
            (
                "/v1/datasets/city/air/records/77/proof",
                "/v1/datasets/{inst}/{ds}/records/{seq}/proof",
            ),
            (
                "/v1/datasets/city/air/records/77",
                "/v1/datasets/{inst}/{ds}/records/{seq}",
            ),
            (
                "/v1/datasets/city/air/tile/0/x001/234",
                "/v1/datasets/{inst}/{ds}/tile/{tile:.*}",
            ),
            (
                "/v1/datasets/metro/trams/tile/entries/000.p/3",
                "/v1/datasets/{inst}/{ds}/tile/{tile:.*}",
            ),
        ] {
            let req = actix_test::TestRequest::get().uri(path).to_request();
            let body = actix_test::call_and_read_body(&app, req).await;
            assert_eq!(body, want.as_bytes(), "{path}");
        }
        let req = actix_test::TestRequest::get()
            .uri("/nowhere/1")
            .to_http_request();
        assert_eq!(labels.label(&req).as_ref(), "unmatched");
    }
}
