//! GraphQL enums and their REST counterparts.

use crate::auth::Role;
use crate::views;
use async_graphql::Enum;
use civicproof_verify::envelope::ErasureReason as Reason;

/// Who may read a dataset: everyone, or only its institution's tokens and the admin.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Restricted,
}

impl From<views::Access> for Access {
    fn from(a: views::Access) -> Self {
        match a {
            views::Access::Public => Self::Public,
            views::Access::Restricted => Self::Restricted,
        }
    }
}

impl From<Access> for views::Access {
    fn from(a: Access) -> Self {
        match a {
            Access::Public => Self::Public,
            Access::Restricted => Self::Restricted,
        }
    }
}

/// What an entry of a log is (PROTOCOL.md section 2).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A published record.
    Record,
    /// The erasure of an earlier record's payload.
    Erasure,
}

/// The public reason code of an erasure.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureReason {
    /// `legal-erasure`: a data subject's legal right to erasure.
    LegalErasure,
    /// `court-order`: a court ordered the removal.
    CourtOrder,
    /// `publisher-error`: published by mistake.
    PublisherError,
    /// `other`: details stay in the server's audit table.
    Other,
}

impl ErasureReason {
    pub fn code(self) -> &'static str {
        Reason::from(self).as_str()
    }
}

impl From<ErasureReason> for Reason {
    fn from(r: ErasureReason) -> Self {
        match r {
            ErasureReason::LegalErasure => Reason::LegalErasure,
            ErasureReason::CourtOrder => Reason::CourtOrder,
            ErasureReason::PublisherError => Reason::PublisherError,
            ErasureReason::Other => Reason::Other,
        }
    }
}

impl From<Reason> for ErasureReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::LegalErasure => Self::LegalErasure,
            Reason::CourtOrder => Self::CourtOrder,
            Reason::PublisherError => Self::PublisherError,
            Reason::Other => Self::Other,
        }
    }
}

/// The roles a token can be issued for (the admin token comes from configuration).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    /// Publishes and erases records and manages datasets of one institution; issues reader
    /// tokens.
    Publisher,
    /// Reads one institution's restricted datasets.
    Reader,
}

impl From<TokenRole> for Role {
    fn from(r: TokenRole) -> Self {
        match r {
            TokenRole::Publisher => Role::Publisher,
            TokenRole::Reader => Role::Reader,
        }
    }
}

impl TokenRole {
    pub fn from_role(r: Role) -> Option<Self> {
        match r {
            Role::Publisher => Some(Self::Publisher),
            Role::Reader => Some(Self::Reader),
            Role::Admin => None,
        }
    }
}

/// Where an anchor batch stands on chain.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorStatus {
    Pending,
    Submitted,
    Confirmed,
}
