//! MQTT 5 reason codes (§2.4), and the MQTT 3.1.1 return codes they map to.

use crate::PacketType;

macro_rules! reason_codes {
    ($($name:ident = $value:expr, $text:expr;)*) => {
        /// Every reason code of MQTT 5.0. Codes below 0x80 mean success;
        /// 0x80 and above mean failure.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum ReasonCode {
            $(#[doc = $text] $name = $value,)*
        }

        impl ReasonCode {
            /// All reason codes, in numeric order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$name,)*];

            pub fn from_u8(value: u8) -> Option<ReasonCode> {
                match value {
                    $($value => Some(ReasonCode::$name),)*
                    _ => None,
                }
            }

            /// The spec's name for the code (for logs and reason strings).
            pub fn text(self) -> &'static str {
                match self {
                    $(ReasonCode::$name => $text,)*
                }
            }
        }
    };
}

reason_codes! {
    Success = 0x00, "Success";
    GrantedQos1 = 0x01, "Granted QoS 1";
    GrantedQos2 = 0x02, "Granted QoS 2";
    DisconnectWithWill = 0x04, "Disconnect with Will Message";
    NoMatchingSubscribers = 0x10, "No matching subscribers";
    NoSubscriptionExisted = 0x11, "No subscription existed";
    ContinueAuthentication = 0x18, "Continue authentication";
    ReAuthenticate = 0x19, "Re-authenticate";
    UnspecifiedError = 0x80, "Unspecified error";
    MalformedPacket = 0x81, "Malformed Packet";
    ProtocolError = 0x82, "Protocol Error";
    ImplementationSpecificError = 0x83, "Implementation specific error";
    UnsupportedProtocolVersion = 0x84, "Unsupported Protocol Version";
    ClientIdentifierNotValid = 0x85, "Client Identifier not valid";
    BadUserNameOrPassword = 0x86, "Bad User Name or Password";
    NotAuthorized = 0x87, "Not authorized";
    ServerUnavailable = 0x88, "Server unavailable";
    ServerBusy = 0x89, "Server busy";
    Banned = 0x8A, "Banned";
    ServerShuttingDown = 0x8B, "Server shutting down";
    BadAuthenticationMethod = 0x8C, "Bad authentication method";
    KeepAliveTimeout = 0x8D, "Keep Alive timeout";
    SessionTakenOver = 0x8E, "Session taken over";
    TopicFilterInvalid = 0x8F, "Topic Filter invalid";
    TopicNameInvalid = 0x90, "Topic Name invalid";
    PacketIdentifierInUse = 0x91, "Packet Identifier in use";
    PacketIdentifierNotFound = 0x92, "Packet Identifier not found";
    ReceiveMaximumExceeded = 0x93, "Receive Maximum exceeded";
    TopicAliasInvalid = 0x94, "Topic Alias invalid";
    PacketTooLarge = 0x95, "Packet too large";
    MessageRateTooHigh = 0x96, "Message rate too high";
    QuotaExceeded = 0x97, "Quota exceeded";
    AdministrativeAction = 0x98, "Administrative action";
    PayloadFormatInvalid = 0x99, "Payload format invalid";
    RetainNotSupported = 0x9A, "Retain not supported";
    QosNotSupported = 0x9B, "QoS not supported";
    UseAnotherServer = 0x9C, "Use another server";
    ServerMoved = 0x9D, "Server moved";
    SharedSubscriptionsNotSupported = 0x9E, "Shared Subscriptions not supported";
    ConnectionRateExceeded = 0x9F, "Connection rate exceeded";
    MaximumConnectTime = 0xA0, "Maximum connect time";
    SubscriptionIdentifiersNotSupported = 0xA1, "Subscription Identifiers not supported";
    WildcardSubscriptionsNotSupported = 0xA2, "Wildcard Subscriptions not supported";
}

impl ReasonCode {
    pub fn is_error(self) -> bool {
        self as u8 >= 0x80
    }

    /// Whether the spec allows this code in a packet of the given type (§2.4 table).
    pub fn allowed_in(self, packet: PacketType) -> bool {
        use ReasonCode::*;
        let v = self as u8;
        match packet {
            PacketType::ConnAck => {
                matches!(self, Success)
                    || (v >= 0x80
                        && !matches!(
                            self,
                            DisconnectWithWill
                                | KeepAliveTimeout
                                | SessionTakenOver
                                | TopicFilterInvalid
                                | PacketIdentifierInUse
                                | PacketIdentifierNotFound
                                | ReceiveMaximumExceeded
                                | TopicAliasInvalid
                                | MessageRateTooHigh
                                | AdministrativeAction
                                | ServerShuttingDown
                                | SharedSubscriptionsNotSupported
                                | MaximumConnectTime
                                | SubscriptionIdentifiersNotSupported
                                | WildcardSubscriptionsNotSupported
                        ))
            }
            PacketType::PubAck | PacketType::PubRec => matches!(
                self,
                Success
                    | NoMatchingSubscribers
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicNameInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | PayloadFormatInvalid
            ),
            PacketType::PubRel | PacketType::PubComp => {
                matches!(self, Success | PacketIdentifierNotFound)
            }
            PacketType::SubAck => matches!(
                self,
                Success
                    | GrantedQos1
                    | GrantedQos2
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | SharedSubscriptionsNotSupported
                    | SubscriptionIdentifiersNotSupported
                    | WildcardSubscriptionsNotSupported
            ),
            PacketType::UnsubAck => matches!(
                self,
                Success
                    | NoSubscriptionExisted
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
            ),
            PacketType::Disconnect => !matches!(
                self,
                GrantedQos1
                    | GrantedQos2
                    | NoMatchingSubscribers
                    | NoSubscriptionExisted
                    | ContinueAuthentication
                    | ReAuthenticate
                    | UnsupportedProtocolVersion
                    | ClientIdentifierNotValid
                    | BadUserNameOrPassword
                    | ServerUnavailable
                    | Banned
                    | BadAuthenticationMethod
                    | PacketIdentifierInUse
                    | PacketIdentifierNotFound
            ),
            PacketType::Auth => matches!(self, Success | ContinueAuthentication | ReAuthenticate),
            _ => false,
        }
    }

    /// The MQTT 3.1.1 CONNACK return code for this reason (§3.2.2.3).
    pub fn to_v3_connack(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::UnsupportedProtocolVersion => 1,
            ReasonCode::ClientIdentifierNotValid => 2,
            ReasonCode::BadUserNameOrPassword => 4,
            ReasonCode::NotAuthorized => 5,
            _ => 3, // Server unavailable
        }
    }

    pub fn from_v3_connack(code: u8) -> Option<ReasonCode> {
        Some(match code {
            0 => ReasonCode::Success,
            1 => ReasonCode::UnsupportedProtocolVersion,
            2 => ReasonCode::ClientIdentifierNotValid,
            3 => ReasonCode::ServerUnavailable,
            4 => ReasonCode::BadUserNameOrPassword,
            5 => ReasonCode::NotAuthorized,
            _ => return None,
        })
    }

    /// The MQTT 3.1.1 SUBACK return code (§3.9.3): granted QoS or 0x80.
    pub fn to_v3_suback(self) -> u8 {
        match self {
            ReasonCode::Success | ReasonCode::GrantedQos1 | ReasonCode::GrantedQos2 => self as u8,
            _ => 0x80,
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:02X})", self.text(), *self as u8)
    }
}
