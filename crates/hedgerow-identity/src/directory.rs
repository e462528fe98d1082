//! The directory of schools, users and devices, and the hot-path question it answers: given a
//! client address and perhaps a signed-in user, who is this and which filtering group applies?
//!
//! Everything that can be worked out ahead of time is, when the directory is built: usernames
//! go into hash maps, and every device network goes into one sorted table per prefix length, so
//! resolving is a handful of binary searches and no allocation.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use crate::cidr::{Cidr, mask_u32, mask_u128};

/// What sort of person a user is. Policies use the group; the kind is for reports and for
/// checks such as "pupil groups must be strict".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    Pupil,
    Staff,
    Visitor,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Pupil => "pupil",
            UserKind::Staff => "staff",
            UserKind::Visitor => "visitor",
        }
    }
}

/// A person who can sign in. Passwords are never held here: authentication happens elsewhere
/// and hands over only the username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Compared without regard to ASCII case, since sign-in systems disagree about case.
    pub username: String,
    pub display_name: String,
    pub kind: UserKind,
    pub group: String,
}

/// A device or network: one laptop's address, a trolley's subnet, or the guest Wi-Fi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    /// Free text such as `ipad`, `laptop` or `guest-wifi`, for reports.
    pub kind: String,
    /// The group for anyone using this device without signing in.
    pub group: Option<String>,
    pub addresses: Vec<Cidr>,
    /// Shared devices where the device says nothing about who is using it: until someone signs
    /// in, the school's unknown-client group applies.
    pub requires_login: bool,
    /// The person this device is assigned to (a 1:1 iPad or laptop): when nobody signs in, the
    /// device is theirs, with their group and the rules and sanctions that name them.
    pub owner: Option<String>,
}

/// One school's users and devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolDirectory {
    pub slug: String,
    pub name: String,
    /// The group for clients nobody can identify.
    pub unknown_group: String,
    pub users: Vec<User>,
    pub devices: Vec<Device>,
}

/// Why a directory could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the directory has no schools; describe at least one school")]
    NoSchools,
    #[error("two schools share the slug {0:?}; give each school its own slug")]
    DuplicateSchool(String),
    #[error(
        "school {school:?} lists the username {username:?} twice (usernames ignore case); remove or rename one"
    )]
    DuplicateUser { school: String, username: String },
    #[error("school {school:?} has two devices named {device:?}; give each device its own name")]
    DuplicateDevice { school: String, device: String },
    #[error(
        "the address {address} is given to both {first} and {second}; an address or network may belong to one device only"
    )]
    DuplicateAddress {
        address: Cidr,
        first: String,
        second: String,
    },
}

#[derive(Debug, Clone, Copy)]
struct DeviceRef {
    school: u32,
    device: u32,
}

/// All networks of one prefix length, sorted by network number for binary search.
#[derive(Debug)]
struct PrefixTable<T> {
    prefix_len: u8,
    networks: Vec<(T, DeviceRef)>,
}

/// Schools, users and devices, ready to resolve clients.
#[derive(Debug)]
pub struct Directory {
    schools: Vec<SchoolDirectory>,
    users_by_name: Vec<HashMap<String, u32>>,
    /// Longest prefixes first, so the first hit is the most specific network.
    v4: Vec<PrefixTable<u32>>,
    v6: Vec<PrefixTable<u128>>,
}

/// Who a client is, as far as the directory can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    pub school: &'a SchoolDirectory,
    pub user: Option<&'a User>,
    pub device: Option<&'a Device>,
    /// The filtering group that applies.
    pub group: &'a str,
    /// How the group was chosen; renders as a readable explanation.
    pub how: Resolution<'a>,
}

/// How an identity was arrived at. Kept as references and rendered only when displayed, so
/// resolving costs nothing for the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// A signed-in user from the directory; their group applies.
    SignedIn {
        user: &'a User,
        device: Option<&'a Device>,
        address: IpAddr,
    },
    /// A device with its own group, and nobody signed in.
    Device { device: &'a Device, address: IpAddr },
    /// A device assigned to one person, and nobody else signed in.
    AssignedDevice {
        user: &'a User,
        device: &'a Device,
        address: IpAddr,
    },
    /// A device that needs a sign-in, used without one.
    LoginRequired { device: &'a Device, address: IpAddr },
    /// A device without a group of its own, used without signing in.
    DeviceWithoutGroup { device: &'a Device, address: IpAddr },
    /// Someone signed in with a name the school's directory does not hold.
    UnknownUser {
        username: &'a str,
        device: Option<&'a Device>,
        address: IpAddr,
        school: &'a str,
    },
    /// No device or network holds the address.
    UnknownClient { address: IpAddr },
}

impl fmt::Display for Resolution<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Resolution::SignedIn {
                user,
                device,
                address,
            } => {
                write!(f, "user {} (group {}) signed in", user.username, user.group)?;
                match device {
                    Some(device) => write!(f, " on device {} ({address})", device.name),
                    None => write!(f, " from {address}"),
                }
            }
            Resolution::Device { device, address } => {
                write!(f, "device {} ({address})", device.name)
            }
            Resolution::AssignedDevice {
                user,
                device,
                address,
            } => write!(
                f,
                "device {} ({address}), assigned to {} (group {})",
                device.name, user.username, user.group
            ),
            Resolution::LoginRequired { device, address } => write!(
                f,
                "device {} ({address}) requires sign-in and nobody is signed in, so the unknown-client group applies",
                device.name
            ),
            Resolution::DeviceWithoutGroup { device, address } => write!(
                f,
                "device {} ({address}) has no group of its own and nobody is signed in, so the unknown-client group applies",
                device.name
            ),
            Resolution::UnknownUser {
                username,
                device,
                address,
                school,
            } => {
                write!(
                    f,
                    "user {username:?} signed in but is not in the directory of school {school}"
                )?;
                match device {
                    Some(device) => match &device.group {
                        Some(group) if !device.requires_login => {
                            write!(
                                f,
                                ", so device {} ({address}) decides the group ({group})",
                                device.name
                            )
                        }
                        _ => write!(
                            f,
                            ", so the unknown-client group applies on device {} ({address})",
                            device.name
                        ),
                    },
                    None => write!(f, ", so the unknown-client group applies ({address})"),
                }
            }
            Resolution::UnknownClient { address } => write!(
                f,
                "no device or network matches {address}, so the unknown-client group applies"
            ),
        }
    }
}

impl Directory {
    /// Checks the schools and builds the lookup tables. The first school is the default for
    /// addresses no school claims.
    pub fn new(schools: Vec<SchoolDirectory>) -> Result<Self, IdentityError> {
        if schools.is_empty() {
            return Err(IdentityError::NoSchools);
        }
        let mut users_by_name = Vec::with_capacity(schools.len());
        let mut owners: HashMap<Cidr, (usize, usize)> = HashMap::new();
        for (school_index, school) in schools.iter().enumerate() {
            if schools[..school_index]
                .iter()
                .any(|s| s.slug == school.slug)
            {
                return Err(IdentityError::DuplicateSchool(school.slug.clone()));
            }
            let mut by_name = HashMap::with_capacity(school.users.len());
            for (user_index, user) in school.users.iter().enumerate() {
                let key = user.username.to_ascii_lowercase();
                if by_name.insert(key, user_index as u32).is_some() {
                    return Err(IdentityError::DuplicateUser {
                        school: school.slug.clone(),
                        username: user.username.clone(),
                    });
                }
            }
            users_by_name.push(by_name);
            for (device_index, device) in school.devices.iter().enumerate() {
                if school.devices[..device_index]
                    .iter()
                    .any(|d| d.name == device.name)
                {
                    return Err(IdentityError::DuplicateDevice {
                        school: school.slug.clone(),
                        device: device.name.clone(),
                    });
                }
                for address in &device.addresses {
                    if let Some((other_school, other_device)) =
                        owners.insert(*address, (school_index, device_index))
                    {
                        return Err(IdentityError::DuplicateAddress {
                            address: *address,
                            first: describe_device(&schools, other_school, other_device),
                            second: describe_device(&schools, school_index, device_index),
                        });
                    }
                }
            }
        }

        let mut v4: HashMap<u8, Vec<(u32, DeviceRef)>> = HashMap::new();
        let mut v6: HashMap<u8, Vec<(u128, DeviceRef)>> = HashMap::new();
        for (cidr, (school, device)) in owners {
            let device_ref = DeviceRef {
                school: school as u32,
                device: device as u32,
            };
            match cidr.network() {
                IpAddr::V4(net) => v4
                    .entry(cidr.prefix_len())
                    .or_default()
                    .push((net.into(), device_ref)),
                IpAddr::V6(net) => v6
                    .entry(cidr.prefix_len())
                    .or_default()
                    .push((net.into(), device_ref)),
            }
        }
        Ok(Directory {
            schools,
            users_by_name,
            v4: into_tables(v4),
            v6: into_tables(v6),
        })
    }

    pub fn schools(&self) -> &[SchoolDirectory] {
        &self.schools
    }

    pub fn school(&self, slug: &str) -> Option<&SchoolDirectory> {
        self.schools.iter().find(|s| s.slug == slug)
    }

    /// The device whose address or network most specifically holds `address`, in any school.
    pub fn device_for(&self, address: IpAddr) -> Option<(&SchoolDirectory, &Device)> {
        let found = match address.to_canonical() {
            IpAddr::V4(a) => longest_match(&self.v4, u32::from(a), mask_u32),
            IpAddr::V6(a) => longest_match(&self.v6, u128::from(a), mask_u128),
        }?;
        let school = self.schools.get(found.school as usize)?;
        Some((school, school.devices.get(found.device as usize)?))
    }

    /// Decides who a client is.
    ///
    /// The school is `school` when it names one; otherwise the school whose device or network
    /// holds the address; otherwise the first school. A signed-in user is looked up in that
    /// school only, since group names belong to a school's policy. A known signed-in user's
    /// group wins over the device's; a device's group applies when nobody is signed in and the
    /// device does not require sign-in; everything else gets the school's unknown-client group.
    pub fn resolve<'a>(
        &'a self,
        school: Option<&str>,
        client_ip: IpAddr,
        authenticated_user: Option<&'a str>,
    ) -> Identity<'a> {
        let address = client_ip.to_canonical();
        let located = self.device_for(address);
        let chosen_school = school
            .and_then(|slug| self.school(slug))
            .or(located.map(|(s, _)| s))
            .unwrap_or(&self.schools[0]);
        // A device from another school says nothing about this school's groups.
        let device = located
            .filter(|(s, _)| std::ptr::eq(*s, chosen_school))
            .map(|(_, d)| d);

        if let Some(username) = authenticated_user.filter(|name| !name.is_empty()) {
            if let Some(user) = self.user_in(chosen_school, username) {
                return Identity {
                    school: chosen_school,
                    user: Some(user),
                    device,
                    group: &user.group,
                    how: Resolution::SignedIn {
                        user,
                        device,
                        address,
                    },
                };
            }
            let group = device
                .filter(|d| !d.requires_login)
                .and_then(|d| d.group.as_deref())
                .unwrap_or(&chosen_school.unknown_group);
            return Identity {
                school: chosen_school,
                user: None,
                device,
                group,
                how: Resolution::UnknownUser {
                    username,
                    device,
                    address,
                    school: &chosen_school.slug,
                },
            };
        }

        if let Some(device) = device
            && let Some(user) = device
                .owner
                .as_deref()
                .and_then(|owner| self.user_in(chosen_school, owner))
        {
            return Identity {
                school: chosen_school,
                user: Some(user),
                device: Some(device),
                group: &user.group,
                how: Resolution::AssignedDevice {
                    user,
                    device,
                    address,
                },
            };
        }

        let (group, how) = match device {
            Some(device) if device.requires_login => (
                chosen_school.unknown_group.as_str(),
                Resolution::LoginRequired { device, address },
            ),
            Some(device) => match &device.group {
                Some(group) => (group.as_str(), Resolution::Device { device, address }),
                None => (
                    chosen_school.unknown_group.as_str(),
                    Resolution::DeviceWithoutGroup { device, address },
                ),
            },
            None => (
                chosen_school.unknown_group.as_str(),
                Resolution::UnknownClient { address },
            ),
        };
        Identity {
            school: chosen_school,
            user: None,
            device,
            group,
            how,
        }
    }

    fn user_in<'a>(&'a self, school: &'a SchoolDirectory, username: &str) -> Option<&'a User> {
        let school_index = self.schools.iter().position(|s| std::ptr::eq(s, school))?;
        let by_name = self.users_by_name.get(school_index)?;
        // Lower-casing allocates, so only names that need it pay for it.
        let index = if username.bytes().any(|b| b.is_ascii_uppercase()) {
            by_name.get(&username.to_ascii_lowercase())
        } else {
            by_name.get(username)
        }?;
        school.users.get(*index as usize)
    }
}

fn describe_device(schools: &[SchoolDirectory], school: usize, device: usize) -> String {
    let school = &schools[school];
    format!(
        "device {:?} of school {:?}",
        school.devices[device].name, school.slug
    )
}

fn into_tables<T: Ord + Copy>(by_len: HashMap<u8, Vec<(T, DeviceRef)>>) -> Vec<PrefixTable<T>> {
    let mut tables: Vec<PrefixTable<T>> = by_len
        .into_iter()
        .map(|(prefix_len, mut networks)| {
            networks.sort_unstable_by_key(|(net, _)| *net);
            PrefixTable {
                prefix_len,
                networks,
            }
        })
        .collect();
    tables.sort_unstable_by_key(|table| std::cmp::Reverse(table.prefix_len));
    tables
}

fn longest_match<T>(tables: &[PrefixTable<T>], address: T, mask: fn(u8) -> T) -> Option<DeviceRef>
where
    T: Ord + Copy + std::ops::BitAnd<Output = T>,
{
    tables.iter().find_map(|table| {
        let network = address & mask(table.prefix_len);
        table
            .networks
            .binary_search_by(|(candidate, _)| candidate.cmp(&network))
            .ok()
            .map(|at| table.networks[at].1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &str, kind: UserKind, group: &str) -> User {
        User {
            username: username.into(),
            display_name: username.to_uppercase(),
            kind,
            group: group.into(),
        }
    }

    fn device(name: &str, group: Option<&str>, addresses: &[&str], requires_login: bool) -> Device {
        Device {
            name: name.into(),
            kind: "laptop".into(),
            group: group.map(Into::into),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            requires_login,
            owner: None,
        }
    }

    fn trust() -> Directory {
        Directory::new(vec![
            SchoolDirectory {
                slug: "oakfield".into(),
                name: "Oakfield Primary".into(),
                unknown_group: "unknown".into(),
                users: vec![
                    user("j.bloggs", UserKind::Pupil, "ks2"),
                    user("Mr.Smith", UserKind::Staff, "staff"),
                ],
                devices: vec![
                    device("ks2-trolley", Some("ks2"), &["10.20.0.0/16"], false),
                    device("ks2-laptop-07", Some("ks1"), &["10.20.0.20"], false),
                    device(
                        "staff-net",
                        Some("staff"),
                        &["10.30.0.0/24", "2001:db8:30::/48"],
                        false,
                    ),
                    device("guest-wifi", Some("visitors"), &["10.99.0.0/16"], true),
                    device("library-pc", None, &["10.40.0.9"], false),
                ],
            },
            SchoolDirectory {
                slug: "elmtree".into(),
                name: "Elm Tree Academy".into(),
                unknown_group: "unknown-elm".into(),
                users: vec![user("a.pupil", UserKind::Pupil, "ks3")],
                devices: vec![device("elm-net", Some("ks3"), &["10.50.0.0/16"], false)],
            },
        ])
        .unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_assigned_device_is_its_owner_until_someone_else_signs_in() {
        let mut school = trust().schools()[0].clone();
        let mut ipad = device("ipad-jb", Some("ks1"), &["10.60.0.5"], false);
        ipad.owner = Some("J.Bloggs".into());
        school.devices.push(ipad);
        let dir = Directory::new(vec![school]).unwrap();
        let who = dir.resolve(None, ip("10.60.0.5"), None);
        assert_eq!(who.user.map(|u| u.username.as_str()), Some("j.bloggs"));
        assert_eq!(who.group, "ks2", "the owner's group, not the device's");
        assert_eq!(
            who.how.to_string(),
            "device ipad-jb (10.60.0.5), assigned to j.bloggs (group ks2)"
        );
        let other = dir.resolve(None, ip("10.60.0.5"), Some("Mr.Smith"));
        assert_eq!(other.group, "staff", "a sign-in beats the assignment");
    }

    #[test]
    fn the_longest_prefix_wins() {
        let dir = trust();
        let id = dir.resolve(None, ip("10.20.0.20"), None);
        assert_eq!(id.device.unwrap().name, "ks2-laptop-07");
        assert_eq!(id.group, "ks1");
        assert_eq!(id.how.to_string(), "device ks2-laptop-07 (10.20.0.20)");
        let id = dir.resolve(None, ip("10.20.0.21"), None);
        assert_eq!(id.device.unwrap().name, "ks2-trolley");
        assert_eq!(id.group, "ks2");
    }

    #[test]
    fn a_signed_in_users_group_beats_the_devices() {
        let dir = trust();
        let id = dir.resolve(None, ip("10.20.0.21"), Some("MR.SMITH"));
        assert_eq!(id.group, "staff");
        assert_eq!(id.user.unwrap().username, "Mr.Smith");
        assert_eq!(
            id.how.to_string(),
            "user Mr.Smith (group staff) signed in on device ks2-trolley (10.20.0.21)"
        );
    }

    #[test]
    fn unknown_clients_get_the_unknown_group_of_the_first_school() {
        let dir = trust();
        let id = dir.resolve(None, ip("192.0.2.1"), None);
        assert_eq!(id.school.slug, "oakfield");
        assert_eq!(id.group, "unknown");
        assert!(id.device.is_none());
        assert!(
            id.how
                .to_string()
                .contains("no device or network matches 192.0.2.1")
        );
    }

    #[test]
    fn devices_needing_sign_in_and_devices_without_groups_fall_back_to_unknown() {
        let dir = trust();
        let id = dir.resolve(None, ip("10.99.1.1"), None);
        assert_eq!(id.group, "unknown");
        assert!(
            id.how.to_string().contains("requires sign-in"),
            "{}",
            id.how
        );
        let id = dir.resolve(None, ip("10.40.0.9"), None);
        assert_eq!(id.group, "unknown");
        assert!(
            id.how.to_string().contains("no group of its own"),
            "{}",
            id.how
        );
        // Someone signing in on the guest Wi-Fi does get their own group.
        assert_eq!(
            dir.resolve(None, ip("10.99.1.1"), Some("j.bloggs")).group,
            "ks2"
        );
    }

    #[test]
    fn an_unknown_signed_in_name_gets_no_more_than_the_device_allows() {
        let dir = trust();
        let id = dir.resolve(None, ip("10.30.0.4"), Some("intruder"));
        assert_eq!(id.group, "staff");
        assert!(id.user.is_none());
        let id = dir.resolve(None, ip("10.99.0.4"), Some("intruder"));
        assert_eq!(id.group, "unknown");
        assert!(
            id.how.to_string().contains("not in the directory"),
            "{}",
            id.how
        );
    }

    #[test]
    fn the_address_chooses_the_school_in_a_trust() {
        let dir = trust();
        let id = dir.resolve(None, ip("10.50.1.2"), Some("a.pupil"));
        assert_eq!(id.school.slug, "elmtree");
        assert_eq!(id.group, "ks3");
        // Users of one school are not recognised at another.
        let id = dir.resolve(None, ip("10.20.1.2"), Some("a.pupil"));
        assert_eq!(id.school.slug, "oakfield");
        assert_eq!(id.group, "ks2");
        assert!(id.user.is_none());
        // An explicit school wins, and a device of another school is ignored there.
        let id = dir.resolve(Some("elmtree"), ip("10.20.1.2"), None);
        assert_eq!(id.school.slug, "elmtree");
        assert_eq!(id.group, "unknown-elm");
        assert!(id.device.is_none());
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let dir = trust();
        assert_eq!(
            dir.resolve(None, ip("2001:db8:30::77"), None).group,
            "staff"
        );
        assert_eq!(
            dir.resolve(None, ip("::ffff:10.20.0.20"), None).group,
            "ks1"
        );
        assert_eq!(
            dir.resolve(None, ip("2001:db8:31::1"), None).group,
            "unknown"
        );
    }

    #[test]
    fn inconsistent_directories_are_refused() {
        assert_eq!(
            Directory::new(vec![]).unwrap_err(),
            IdentityError::NoSchools
        );
        let mut school = trust().schools()[0].clone();
        school
            .devices
            .push(device("again", None, &["10.30.0.0/24"], false));
        let err = Directory::new(vec![school]).unwrap_err();
        assert!(matches!(err, IdentityError::DuplicateAddress { .. }));
        assert!(err.to_string().contains("staff-net"), "{err}");
        let mut school = trust().schools()[0].clone();
        school.users.push(user("J.Bloggs", UserKind::Pupil, "ks1"));
        assert!(matches!(
            Directory::new(vec![school]),
            Err(IdentityError::DuplicateUser { .. })
        ));
        let school = trust().schools()[0].clone();
        assert!(matches!(
            Directory::new(vec![school.clone(), school]),
            Err(IdentityError::DuplicateSchool(_))
        ));
    }

    proptest::proptest! {
        /// The tables must agree with a plain scan for the most specific containing network.
        #[test]
        fn lookup_agrees_with_a_linear_scan(
            networks in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 1..40),
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..40),
        ) {
            let mut seen = std::collections::HashSet::new();
            let devices: Vec<Device> = networks
                .iter()
                .map(|(addr, len)| Cidr::new(IpAddr::V4((addr & mask_u32(*len)).into()), *len).unwrap())
                .filter(|cidr| seen.insert(*cidr))
                .enumerate()
                .map(|(i, cidr)| Device {
                    name: format!("d{i}"),
                    kind: "laptop".into(),
                    group: Some(format!("g{i}")),
                    addresses: vec![cidr],
                    requires_login: false,
                    owner: None,
                })
                .collect();
            let dir = Directory::new(vec![SchoolDirectory {
                slug: "s".into(),
                name: "S".into(),
                unknown_group: "unknown".into(),
                users: vec![],
                devices: devices.clone(),
            }])
            .unwrap();
            for probe in probes.iter().copied().chain(networks.iter().map(|(a, _)| *a)) {
                let address = IpAddr::V4(probe.into());
                let expected = devices
                    .iter()
                    .filter(|d| d.addresses[0].contains(address))
                    .max_by_key(|d| d.addresses[0].prefix_len())
                    .map(|d| d.name.as_str());
                let found = dir.device_for(address).map(|(_, d)| d.name.as_str());
                proptest::prop_assert_eq!(found, expected);
            }
        }
    }
}
