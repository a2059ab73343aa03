#pragma once
// Word lists and templates behind generated submissions: Cleveland towns and
// streets, the communities that live there, report text in English, Welsh,
// Polish, Urdu, Arabic, Romanian and Chinese, and attachment media types.
// Ported from shared/tools/gen_submissions.py (Romanian and Chinese added).
#include <array>
#include <span>
#include <string_view>

#include "tools/gen_store/rng.hpp"

namespace reportbridge::gen::data {

using namespace std::string_view_literals;
using Sv = std::string_view;

inline constexpr std::array<Sv, 5> kKinds = {"concern", "complaint", "information", "feedback",
                                             "compliment"};
inline constexpr std::array<Weighted<Sv>, 5> kKindWeights = {
    {{"concern", 45}, {"information", 25}, {"complaint", 15}, {"feedback", 8}, {"compliment", 7}}};

inline constexpr std::array<Weighted<Sv>, 10> kConcernCategories = {{{"anti_social_behaviour", 25},
                                                                     {"noise", 12},
                                                                     {"drugs", 12},
                                                                     {"vehicle_nuisance", 12},
                                                                     {"speeding", 10},
                                                                     {"vandalism", 8},
                                                                     {"fly_tipping", 5},
                                                                     {"suspicious_activity", 8},
                                                                     {"hate_incident", 3},
                                                                     {"other", 5}}};
inline constexpr std::array<Weighted<Sv>, 8> kInformationCategories = {{{"suspicious_activity", 25},
                                                                        {"drugs", 25},
                                                                        {"anti_social_behaviour", 15},
                                                                        {"vehicle_nuisance", 10},
                                                                        {"vandalism", 5},
                                                                        {"fly_tipping", 5},
                                                                        {"hate_incident", 5},
                                                                        {"other", 10}}};
inline constexpr std::array<Weighted<Sv>, 5> kComplaintCategories = {{{"police_feedback", 60},
                                                                      {"noise", 10},
                                                                      {"anti_social_behaviour", 10},
                                                                      {"vehicle_nuisance", 10},
                                                                      {"other", 10}}};
inline constexpr std::array<Weighted<Sv>, 2> kFeedbackCategories = {{{"police_feedback", 80}, {"other", 20}}};
inline constexpr std::array<Weighted<Sv>, 2> kComplimentCategories = {
    {{"police_feedback", 95}, {"other", 5}}};
// Open list: valid rows occasionally carry a category the bridge has never seen.
inline constexpr std::array<Sv, 6> kUnknownCategories = {"graffiti", "parking",  "dog_fouling",
                                                         "begging",  "Noise",    "e_scooter"};

// --- places -------------------------------------------------------------------
struct Town {
  Sv name;
  double lat, lon, spread_km;
  std::span<const Sv> districts;
  std::span<const Sv> streets;
  std::span<const Sv> landmarks;
};

inline constexpr std::array<Sv, 6> kMbroDistricts = {"TS1", "TS3", "TS4", "TS5", "TS7", "TS8"};
inline constexpr std::array<Sv, 18> kMbroStreets = {
    "Linthorpe Road", "Albert Road",     "Parliament Road",  "Marton Road",        "Acklam Road",
    "Corporation Road", "Newport Road",  "Borough Road",     "Southfield Road",    "Abingdon Road",
    "Union Street",   "Waterloo Road",   "Ayresome Street",  "Park Road North",    "Cargo Fleet Lane",
    "Ormesby Road",   "Whinney Banks Road", "Longlands Road"};
inline constexpr std::array<Sv, 7> kMbroLandmarks = {"Albert Park", "the bus station", "Centre Square",
                                                     "the Riverside Stadium", "the Hill Street Centre",
                                                     "the library", "the Transporter Bridge"};
inline constexpr std::array<Sv, 4> kStocktonDistricts = {"TS18", "TS19", "TS20", "TS21"};
inline constexpr std::array<Sv, 12> kStocktonStreets = {
    "High Street",  "Yarm Road",     "Dovecot Street", "Bishopton Road", "Norton Road",   "Oxbridge Lane",
    "Durham Road",  "Hartburn Lane", "Prince Regent Street", "Bishop Street", "Portrack Lane",
    "Harrowgate Lane"};
inline constexpr std::array<Sv, 6> kStocktonLandmarks = {"Wellington Square", "the Riverside", "Ropner Park",
                                                         "the Castlegate Centre", "the Parish Gardens",
                                                         "Stockton station"};
inline constexpr std::array<Sv, 1> kThornabyDistricts = {"TS17"};
inline constexpr std::array<Sv, 6> kThornabyStreets = {"Thornaby Road",    "Mandale Road",    "Acklam Road",
                                                       "Trenchard Avenue", "Westbury Street", "Lanehouse Road"};
inline constexpr std::array<Sv, 3> kThornabyLandmarks = {"the Pavilion", "Thornaby station", "the Town Hall"};
inline constexpr std::array<Sv, 2> kBillinghamDistricts = {"TS22", "TS23"};
inline constexpr std::array<Sv, 5> kBillinghamStreets = {"Station Road", "Central Avenue", "Marsh House Avenue",
                                                         "Cowpen Lane", "Wolviston Road"};
inline constexpr std::array<Sv, 3> kBillinghamLandmarks = {"the Forum", "Billingham Town Centre",
                                                           "John Whitehead Park"};
inline constexpr std::array<Sv, 4> kHartlepoolDistricts = {"TS24", "TS25", "TS26", "TS27"};
inline constexpr std::array<Sv, 12> kHartlepoolStreets = {
    "York Road",    "Stockton Road",    "Raby Road",   "Victoria Road", "Murray Street", "Catcote Road",
    "Owton Manor Lane", "Elwick Road",  "Marina Way",  "Church Street", "Oxford Road",   "Brougham Terrace"};
inline constexpr std::array<Sv, 6> kHartlepoolLandmarks = {"Middleton Grange",    "the Marina",
                                                           "Ward Jackson Park",   "Seaton Carew front",
                                                           "the Headland",        "Hartlepool station"};
inline constexpr std::array<Sv, 2> kRedcarDistricts = {"TS10", "TS11"};
inline constexpr std::array<Sv, 9> kRedcarStreets = {"High Street",     "Coatham Road",     "Redcar Lane",
                                                     "West Dyke Road",  "Newcomen Terrace", "Kirkleatham Lane",
                                                     "Lord Street",     "Queen Street",     "Marske Road"};
inline constexpr std::array<Sv, 5> kRedcarLandmarks = {"the Beacon", "the Esplanade", "Locke Park",
                                                       "Redcar Central station", "Zetland Park"};
inline constexpr std::array<Sv, 1> kEstonDistricts = {"TS6"};
inline constexpr std::array<Sv, 5> kEstonStreets = {"High Street", "Church Lane", "Normanby Road",
                                                    "Fabian Road", "Jubilee Road"};
inline constexpr std::array<Sv, 3> kEstonLandmarks = {"Eston Square", "the precinct", "Eston Hills car park"};
inline constexpr std::array<Sv, 1> kGuisboroughDistricts = {"TS14"};
inline constexpr std::array<Sv, 5> kGuisboroughStreets = {"Westgate", "Northgate", "Church Street",
                                                          "Rectory Lane", "Park Lane"};
inline constexpr std::array<Sv, 3> kGuisboroughLandmarks = {"the market place", "Guisborough Priory",
                                                            "Belmangate car park"};

inline constexpr std::array<Town, 8> kTowns = {{
    {"Middlesbrough", 54.5742, -1.2350, 2.2, kMbroDistricts, kMbroStreets, kMbroLandmarks},
    {"Stockton-on-Tees", 54.5705, -1.3187, 1.8, kStocktonDistricts, kStocktonStreets, kStocktonLandmarks},
    {"Thornaby", 54.5430, -1.2990, 1.2, kThornabyDistricts, kThornabyStreets, kThornabyLandmarks},
    {"Billingham", 54.6020, -1.2900, 1.3, kBillinghamDistricts, kBillinghamStreets, kBillinghamLandmarks},
    {"Hartlepool", 54.6863, -1.2129, 2.2, kHartlepoolDistricts, kHartlepoolStreets, kHartlepoolLandmarks},
    {"Redcar", 54.6161, -1.0700, 1.8, kRedcarDistricts, kRedcarStreets, kRedcarLandmarks},
    {"Eston", 54.5580, -1.1450, 1.0, kEstonDistricts, kEstonStreets, kEstonLandmarks},
    {"Guisborough", 54.5350, -1.0560, 0.9, kGuisboroughDistricts, kGuisboroughStreets, kGuisboroughLandmarks},
}};
inline constexpr std::array<Weighted<int>, 8> kTownWeights = {
    {{0, 36}, {1, 20}, {2, 6}, {3, 6}, {4, 16}, {5, 9}, {6, 4}, {7, 3}}};
inline constexpr std::array<Sv, 17> kShops = {
    "the Co-op",      "the chippy",           "Tesco Express",       "the Spar",         "the Post Office",
    "the bookies",    "the vape shop",        "the barbers",         "the corner shop",  "the takeaway",
    "the off licence", "the community centre", "the primary school", "the mosque",       "St Mary's church",
    "the Polish shop", "the launderette"};
// Inward-code letters (no C I K M O V).
inline constexpr Sv kPostcodeLetters = "ABDEFGHJLNPQRSTUWXYZ";

// --- people ---------------------------------------------------------------------
struct Community {
  Sv key;
  int weight;
  std::span<const Sv> given;
  std::span<const Sv> family;
  std::span<const Weighted<Sv>> languages;
  std::span<const Sv> ethnicities;
  std::span<const Sv> native_names;  // names in the community's own script
};

inline constexpr std::array<Sv, 20> kWbGiven = {"Jack",   "Emily",  "Liam",    "Chloe",  "Gary",
                                                "Karen",  "Dave",   "Sophie",  "Callum", "Megan",
                                                "Pauline", "Terry", "Stephen", "Joanne", "Zoë",
                                                "Kyle",   "Shannon", "Brian",  "Renée",  "Norman"};
inline constexpr std::array<Sv, 16> kWbFamily = {"Smith",    "Robinson", "Wilson",      "Thompson",
                                                 "Walker",   "Hall",     "Wright",      "Harrison",
                                                 "Atkinson", "Bell",     "Dixon",       "Pearson",
                                                 "Metcalfe", "Featherstone", "Brontë", "Hebblethwaite"};
inline constexpr std::array<Weighted<Sv>, 1> kLangEn = {{{"en", 100}}};
inline constexpr std::array<Sv, 1> kEthWb = {"White: English, Welsh, Scottish, Northern Irish or British"};

inline constexpr std::array<Sv, 12> kPkGiven = {"Aisha", "Mohammed", "Imran",  "Sana",   "Bilal", "Nadia",
                                                "Tariq", "Farah",    "Zainab", "Usman",  "Asif",  "Rukhsana"};
inline constexpr std::array<Sv, 10> kPkFamily = {"Khan",    "Iqbal",  "Hussain", "Ahmed", "Akhtar",
                                                 "Mahmood", "Rashid", "Bibi",    "Shah",  "Javed"};
inline constexpr std::array<Weighted<Sv>, 3> kLangPk = {{{"en", 70}, {"ur", 25}, {"pa", 5}}};
inline constexpr std::array<Sv, 1> kEthPk = {"Asian or Asian British: Pakistani"};
inline constexpr std::array<Sv, 2> kPkNative = {"عائشہ خان", "عمران اقبال"};

inline constexpr std::array<Sv, 5> kBdGiven = {"Rahima", "Abdul", "Shahana", "Jamal", "Nusrat"};
inline constexpr std::array<Sv, 5> kBdFamily = {"Miah", "Begum", "Rahman", "Uddin", "Chowdhury"};
inline constexpr std::array<Weighted<Sv>, 2> kLangBd = {{{"en", 75}, {"bn", 25}}};
inline constexpr std::array<Sv, 1> kEthBd = {"Asian or Asian British: Bangladeshi"};

inline constexpr std::array<Sv, 6> kInGiven = {"Priya", "Rajesh", "Harpreet", "Gurpreet", "Anil", "Deepa"};
inline constexpr std::array<Sv, 5> kInFamily = {"Patel", "Sharma", "Singh", "Kaur", "Gill"};
inline constexpr std::array<Weighted<Sv>, 3> kLangIn = {{{"en", 85}, {"pa", 10}, {"gu", 5}}};
inline constexpr std::array<Sv, 1> kEthIn = {"Asian or Asian British: Indian"};

inline constexpr std::array<Sv, 10> kPlGiven = {"Zofia", "Piotr",     "Agnieszka", "Łukasz",   "Małgorzata",
                                                "Krzysztof", "Paweł", "Magdalena", "Wojciech", "Katarzyna"};
inline constexpr std::array<Sv, 8> kPlFamily = {"Nowak",      "Wiśniewska", "Wójcik",    "Kamiński",
                                                "Lewandowska", "Zieliński", "Kowalczyk", "Szymańska"};
inline constexpr std::array<Weighted<Sv>, 2> kLangPl = {{{"pl", 55}, {"en", 45}}};
inline constexpr std::array<Sv, 1> kEthOtherWhite = {"White: Other White"};

inline constexpr std::array<Sv, 5> kRoGiven = {"Andreea", "Ionuț", "Mihai", "Elena", "Ştefan"};
inline constexpr std::array<Sv, 4> kRoFamily = {"Popescu", "Ionescu", "Stan", "Dumitru"};
inline constexpr std::array<Weighted<Sv>, 2> kLangRo = {{{"ro", 40}, {"en", 60}}};
inline constexpr std::array<Sv, 2> kEthRo = {"White: Other White", "White: Roma"};

inline constexpr std::array<Sv, 8> kArGiven = {"Fatima", "Omar", "Youssef", "Layla",
                                               "Ahmad",  "Mariam", "Khalid", "Huda"};
inline constexpr std::array<Sv, 6> kArFamily = {"Al-Sayed", "Haddad", "Al-Hashimi", "Nasser", "Saleh", "Abdullah"};
inline constexpr std::array<Weighted<Sv>, 2> kLangAr = {{{"ar", 55}, {"en", 45}}};
inline constexpr std::array<Sv, 1> kEthAr = {"Other ethnic group: Arab"};
inline constexpr std::array<Sv, 3> kArNative = {"محمد الحسن", "فاطمة علي", "ليلى حداد"};

inline constexpr std::array<Sv, 4> kKuGiven = {"Rebin", "Shilan", "Dilan", "Karwan"};
inline constexpr std::array<Sv, 3> kKuFamily = {"Ahmadi", "Rasul", "Kareem"};
inline constexpr std::array<Weighted<Sv>, 3> kLangKu = {{{"ku", 30}, {"ar", 20}, {"en", 50}}};
inline constexpr std::array<Sv, 1> kEthKu = {"Other ethnic group: Any other ethnic group"};

inline constexpr std::array<Sv, 6> kHoaGiven = {"Hodan", "Abdi", "Faisal", "Saida", "Yonas", "Senait"};
inline constexpr std::array<Sv, 5> kHoaFamily = {"Mohamed", "Warsame", "Hassan", "Tesfaye", "Ghebremariam"};
inline constexpr std::array<Weighted<Sv>, 3> kLangHoa = {{{"en", 60}, {"so", 25}, {"ti", 15}}};
inline constexpr std::array<Sv, 1> kEthAfrican = {"Black, Black British, Caribbean or African: African"};

inline constexpr std::array<Sv, 6> kWaGiven = {"Chidi", "Ngozi", "Oluwaseun", "Kwame", "Ama", "Emeka"};
inline constexpr std::array<Sv, 5> kWaFamily = {"Okafor", "Adeyemi", "Mensah", "Okonkwo", "Boateng"};

inline constexpr std::array<Sv, 5> kZhGiven = {"Wei", "Mei", "Ka Yan", "Chun", "Ling"};
inline constexpr std::array<Sv, 5> kZhFamily = {"Zhang", "Chan", "Wong", "Li", "Liu"};
inline constexpr std::array<Weighted<Sv>, 2> kLangZh = {{{"en", 70}, {"zh", 30}}};
inline constexpr std::array<Sv, 1> kEthZh = {"Asian or Asian British: Chinese"};
inline constexpr std::array<Sv, 2> kZhNative = {"张伟", "陈嘉欣"};

inline constexpr std::array<Sv, 6> kCyGiven = {"Siân", "Rhys", "Gethin", "Ffion", "Dafydd", "Angharad"};
inline constexpr std::array<Sv, 5> kCyFamily = {"Jones", "Llewellyn", "Evans", "Pritchard", "ap Rhys"};
inline constexpr std::array<Weighted<Sv>, 2> kLangCy = {{{"cy", 45}, {"en", 55}}};

inline constexpr std::array<Sv, 4> kItGiven = {"Siobhán", "Patrick", "Bridget", "Seán"};
inline constexpr std::array<Sv, 4> kItFamily = {"O'Connor", "O'Brien", "McDonagh", "Ward"};
inline constexpr std::array<Sv, 2> kEthIt = {"White: Irish", "White: Gypsy or Irish Traveller"};

inline constexpr std::array<Sv, 4> kCmGiven = {"Jordan", "Tia", "Marcus", "Jade"};
inline constexpr std::array<Sv, 3> kCmFamily = {"Campbell", "Brown", "Francis"};
inline constexpr std::array<Sv, 2> kEthCm = {"Mixed or Multiple ethnic groups: White and Black Caribbean",
                                             "Black, Black British, Caribbean or African: Caribbean"};

inline constexpr std::array<Community, 14> kCommunities = {{
    {"white_british", 52, kWbGiven, kWbFamily, kLangEn, kEthWb, {}},
    {"pakistani", 10, kPkGiven, kPkFamily, kLangPk, kEthPk, kPkNative},
    {"bangladeshi", 2, kBdGiven, kBdFamily, kLangBd, kEthBd, {}},
    {"indian", 3, kInGiven, kInFamily, kLangIn, kEthIn, {}},
    {"polish", 6, kPlGiven, kPlFamily, kLangPl, kEthOtherWhite, {}},
    {"romanian", 3, kRoGiven, kRoFamily, kLangRo, kEthRo, {}},
    {"arab", 5, kArGiven, kArFamily, kLangAr, kEthAr, kArNative},
    {"kurdish", 2, kKuGiven, kKuFamily, kLangKu, kEthKu, {}},
    {"horn_of_africa", 2, kHoaGiven, kHoaFamily, kLangHoa, kEthAfrican, {}},
    {"west_african", 3, kWaGiven, kWaFamily, kLangEn, kEthAfrican, {}},
    {"chinese", 2, kZhGiven, kZhFamily, kLangZh, kEthZh, kZhNative},
    {"welsh", 3, kCyGiven, kCyFamily, kLangCy, kEthWb, {}},
    {"irish_traveller", 2, kItGiven, kItFamily, kLangEn, kEthIt, {}},
    {"caribbean_mixed", 2, kCmGiven, kCmFamily, kLangEn, kEthCm, {}},
}};
inline constexpr std::array<Sv, 7> kAgeBands = {"under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"};
// An empty value means the field is null.
inline constexpr std::array<Weighted<Sv>, 5> kGenders = {
    {{"female", 46}, {"male", 44}, {"non-binary", 2}, {"prefer_not_to_say", 5}, {"", 3}}};

// --- text -------------------------------------------------------------------------
// Slots: {street} {place} {shop} {n} {house} {mins} {clock} {daypart} {colour} {car} {pcso}
struct Template {
  Sv summary;
  Sv description;
};
struct TemplateSet {
  Sv key;  // category, or "police_feedback:<kind>"
  std::span<const Template> items;
};

inline constexpr std::array<Template, 5> kEnAsb = {{
    {"Group throwing stones at buses",
     "A group of about {n} teenagers are throwing stones at the buses on {street} again. One window cracked "
     "tonight. This has been going on since {daypart}."},
    {"Youths on bikes harassing people outside {shop}",
     "Lads on bikes and e-scooters circling outside {shop} on {street}, shouting at people and blocking the "
     "door. Staff are too scared to go out."},
    {"Drinking and fighting near {place}",
     "Adults drinking near {place} every afternoon, leaving cans and bottles, shouting and swearing at kids. "
     "Two of them were fighting at about {clock}."},
    {"Fireworks aimed at houses",
     "Someone is setting off fireworks aimed at houses on {street}. My dog is terrified and the elderly lady "
     "next door is really upset."},
    {"Kids banging on doors and windows",
     "Same group of kids banging on doors and windows on {street} then running off, usually between 7 and "
     "{clock}. They shouted \"we know where you live\" at my son."},
}};
inline constexpr std::array<Template, 3> kEnNoise = {{
    {"Loud music every night",
     "Music from number {house} {street} is so loud the windows shake. Goes on until {clock}. Asked them "
     "nicely, got told to \"mind your own business\"."},
    {"Car stereos and revving at night",
     "Cars meet up near {place} with stereos blasting and engines revving till {clock}. Can't sleep, kids "
     "can't sleep."},
    {"Party noise until the early hours",
     "House party at {house} {street} again, people in the street screaming, bottles smashing. Third weekend "
     "in a row."},
}};
inline constexpr std::array<Template, 4> kEnDrugs = {{
    {"Drug dealing from a car",
     "A {colour} {car} parks on {street} most evenings around {clock}. People walk up, something is handed "
     "through the window, they leave after a minute."},
    {"Strong cannabis smell from flat",
     "Strong smell of cannabis coming from the flat above mine on {street}, all day, visitors coming and going "
     "every {mins} minutes."},
    {"Needles found in the back alley",
     "Found {n} needles in the back alley behind {street}, right where kids walk to school."},
    {"Dealing outside {shop}", "Young lads dealing openly outside {shop} on {street}. They're not hiding it at all."},
}};
inline constexpr std::array<Template, 4> kEnVehicle = {{
    {"Off-road bikes on the footpath",
     "Two off-road bikes with no plates racing along the footpath by {place}. Nearly hit a woman with a pram."},
    {"Car parked on the pavement every day",
     "{colour} {car} parks fully on the pavement on {street} every day. Wheelchair users and prams have to go "
     "into the road."},
    {"Abandoned car with no plates",
     "A {colour} {car} with no number plates has been left near {place} for {n} days. Windows smashed now."},
    {"Cars doing doughnuts in the car park",
     "Cars doing doughnuts and handbrake turns in the car park at {place} after {clock}."},
}};
inline constexpr std::array<Template, 3> kEnSpeeding = {{
    {"Cars racing on {street}", "Cars racing up and down {street} most nights, must be doing 60 in a 30."},
    {"Speeding outside the school",
     "Drivers speeding past the school on {street} at drop-off time. A child will get hurt."},
    {"Motorbike speeding through estate",
     "A motorbike comes through the estate off {street} at silly speeds every evening around {clock}."},
}};
inline constexpr std::array<Template, 3> kEnVandalism = {{
    {"Bus shelter smashed", "The bus shelter on {street} has been smashed again, glass all over the pavement."},
    {"Graffiti on the church wall", "Someone sprayed graffiti all over the wall near {place} overnight."},
    {"Car tyres slashed",
     "All four tyres slashed on my car outside {house} {street}. Two other cars on the street had the same."},
}};
inline constexpr std::array<Template, 2> kEnFlyTipping = {{
    {"Mattresses dumped in the back lane",
     "Someone has dumped {n} mattresses and bin bags in the back lane behind {street}."},
    {"Builders' rubble dumped", "A van dumped a load of builders' rubble near {place} this morning, about {clock}."},
}};
inline constexpr std::array<Template, 3> kEnSuspicious = {{
    {"Man trying car door handles",
     "Man in dark clothes walking along {street} trying car door handles, about {clock}."},
    {"Van watching houses", "White van with two men parked on {street} for hours, watching houses and taking photos."},
    {"Someone looking into back gardens",
     "Someone with a torch looking over back garden fences on {street} late last night."},
}};
inline constexpr std::array<Template, 3> kEnHate = {{
    {"Racist graffiti on shop shutter",
     "Racist graffiti sprayed on the shutter of {shop} on {street}. Owner is very upset."},
    {"Abuse shouted at my family",
     "Man shouted racist abuse at me and my children near {place}, told us to \"go home\"."},
    {"Mosque wall vandalised",
     "Offensive words written on the wall near {place}. People are scared to come to prayers."},
}};
inline constexpr std::array<Template, 3> kEnOther = {{
    {"Street lights out", "Street lights have been out on {street} for a week, it feels unsafe walking home."},
    {"Found a wallet", "Found a wallet near {place}, handed it to {shop}. Not sure who else to tell."},
    {"Dog roaming loose", "Large dog roaming loose on {street}, no owner about, kids frightened."},
}};
inline constexpr std::array<Template, 3> kEnComplaint = {{
    {"Nobody called me back", "I reported the problems on {street} three times and nobody called me back."},
    {"Rude officer at the front desk",
     "The officer at the front desk was rude and dismissive when I came in about {street}."},
    {"Waited {mins} minutes on 101",
     "Waited {mins} minutes on 101 and then got cut off. That's why I'm using the app."},
}};
inline constexpr std::array<Template, 3> kEnFeedback = {{
    {"App is hard to use on an old phone",
     "The app keeps crashing on my old phone when I add photos. Otherwise fine."},
    {"Updates in other languages please",
     "Would be good to get updates in Polish and Urdu, lots of people round {street} don't read English well."},
    {"More patrols please", "Would like to see more patrols near {place} in the evenings."},
}};
inline constexpr std::array<Template, 3> kEnCompliment = {{
    {"Thank you {pcso}",
     "{pcso} went above and beyond helping my dad when he got lost near {place}. Please pass on our thanks 🙏"},
    {"Great response last night",
     "Officers came really quickly last night on {street}. Very professional, thank you."},
    {"Thanks to the neighbourhood team",
     "Since the neighbourhood team started walking round {street} it's been much quieter. 👍"},
}};
inline constexpr std::array<TemplateSet, 13> kEnglish = {{
    {"anti_social_behaviour", kEnAsb},
    {"noise", kEnNoise},
    {"drugs", kEnDrugs},
    {"vehicle_nuisance", kEnVehicle},
    {"speeding", kEnSpeeding},
    {"vandalism", kEnVandalism},
    {"fly_tipping", kEnFlyTipping},
    {"suspicious_activity", kEnSuspicious},
    {"hate_incident", kEnHate},
    {"other", kEnOther},
    {"police_feedback:complaint", kEnComplaint},
    {"police_feedback:feedback", kEnFeedback},
    {"police_feedback:compliment", kEnCompliment},
}};

// Welsh
inline constexpr std::array<Template, 1> kCyAsb = {{{"Criw ifanc yn taflu cerrig at fysiau",
    "Mae criw o tua {n} o bobl ifanc yn taflu cerrig at y bysiau ar {street} eto heno. Mae un ffenest wedi "
    "cracio."}}};
inline constexpr std::array<Template, 1> kCyNoise = {{{"Cerddoriaeth uchel bob nos",
    "Mae'r gerddoriaeth o'r tŷ ar {street} mor uchel nes bod y ffenestri'n crynu. Mae'n para tan {clock}."}}};
inline constexpr std::array<Template, 1> kCySpeeding = {{{"Ceir yn goryrru ger yr ysgol",
    "Mae ceir yn gyrru'n llawer rhy gyflym ar {street}, yn enwedig adeg mynd â'r plant i'r ysgol."}}};
inline constexpr std::array<Template, 1> kCyFly = {{{"Sbwriel wedi'i adael yn y lôn gefn",
    "Mae rhywun wedi gadael matresi a bagiau sbwriel yn y lôn gefn tu ôl i {street}."}}};
inline constexpr std::array<Template, 1> kCyVandalism = {{{"Lloches bws wedi'i malu",
    "Mae'r lloches bws ar {street} wedi cael ei malu eto. Gwydr ym mhobman ar y palmant."}}};
inline constexpr std::array<Template, 1> kCyCompliment = {{{"Diolch i'r swyddogion",
    "Diolch yn fawr i'r swyddogion a helpodd fy nhad ddoe ar {street}. Roedden nhw'n garedig ac yn amyneddgar "
    "iawn."}}};
inline constexpr std::array<TemplateSet, 6> kWelsh = {{{"anti_social_behaviour", kCyAsb},
                                                       {"noise", kCyNoise},
                                                       {"speeding", kCySpeeding},
                                                       {"fly_tipping", kCyFly},
                                                       {"vandalism", kCyVandalism},
                                                       {"police_feedback:compliment", kCyCompliment}}};
// Polish
inline constexpr std::array<Template, 1> kPlAsb = {{{"Młodzież rzuca kamieniami w autobusy",
    "Grupa około {n} nastolatków znowu rzuca kamieniami w autobusy na {street}. Jedna szyba jest pęknięta. "
    "Dzieje się to od kilku dni."}}};
inline constexpr std::array<Template, 1> kPlNoise = {{{"Głośna muzyka co noc",
    "Sąsiedzi z {street} puszczają bardzo głośną muzykę do {clock}, nie da się spać. Prosiłem grzecznie, ale "
    "nic to nie dało."}}};
inline constexpr std::array<Template, 1> kPlDrugs = {{{"Handel narkotykami z samochodu",
    "Codziennie wieczorem ten sam samochód podjeżdża na {street}. Ludzie podchodzą do okna, coś dostają i "
    "odchodzą po minucie."}}};
inline constexpr std::array<Template, 1> kPlVehicle = {{{"Porzucony samochód bez tablic",
    "Przy {street} od dwóch tygodni stoi porzucony samochód bez tablic rejestracyjnych."}}};
inline constexpr std::array<Template, 1> kPlHate = {{{"Obraźliwe okrzyki z powodu języka",
    "Ktoś krzyczał do mnie obraźliwe słowa na {street}, bo rozmawiałam przez telefon po polsku. Czuję się "
    "niebezpiecznie."}}};
inline constexpr std::array<Template, 1> kPlComplaint = {{{"Nikt nie oddzwonił",
    "Zgłaszałem sprawę trzy razy i nikt do mnie nie oddzwonił. Proszę o kontakt po polsku, jeśli to "
    "możliwe."}}};
inline constexpr std::array<TemplateSet, 6> kPolish = {{{"anti_social_behaviour", kPlAsb},
                                                        {"noise", kPlNoise},
                                                        {"drugs", kPlDrugs},
                                                        {"vehicle_nuisance", kPlVehicle},
                                                        {"hate_incident", kPlHate},
                                                        {"police_feedback:complaint", kPlComplaint}}};
// Urdu (right to left)
inline constexpr std::array<Template, 1> kUrAsb = {{{"نوجوان بسوں پر پتھر پھینک رہے ہیں",
    "ہر رات {street} پر تقریباً {n} نوجوان شور مچاتے ہیں اور بسوں پر پتھر پھینکتے ہیں۔ آج ایک کھڑکی ٹوٹ گئی۔"}}};
inline constexpr std::array<Template, 1> kUrHate = {{{"مسجد کی دیوار پر نفرت انگیز نعرے",
    "کسی نے {street} پر مسجد کی دیوار پر نفرت انگیز نعرے لکھ دیے ہیں۔ ہمارے بچے بہت خوفزدہ ہیں۔"}}};
inline constexpr std::array<Template, 1> kUrDrugs = {{{"گلی میں منشیات کی فروخت",
    "{street} کے کونے پر روزانہ شام کو منشیات بیچی جاتی ہیں۔ ایک گاڑی آتی ہے اور لوگ کھڑکی سے کچھ لیتے ہیں۔"}}};
inline constexpr std::array<Template, 1> kUrNoise = {{{"رات گئے تک اونچی موسیقی",
    "پڑوسی رات {clock} تک بہت اونچی آواز میں موسیقی بجاتے ہیں، بچے سو نہیں سکتے۔"}}};
inline constexpr std::array<Template, 1> kUrCompliment = {{{"پولیس کا شکریہ",
    "پولیس افسران کا بہت شکریہ، انہوں نے کل {street} پر میرے والد کی بہت مدد کی۔"}}};
inline constexpr std::array<TemplateSet, 5> kUrdu = {{{"anti_social_behaviour", kUrAsb},
                                                      {"hate_incident", kUrHate},
                                                      {"drugs", kUrDrugs},
                                                      {"noise", kUrNoise},
                                                      {"police_feedback:compliment", kUrCompliment}}};
// Arabic (right to left)
inline constexpr std::array<Template, 1> kArAsb = {{{"شباب يرمون الحجارة على الحافلات",
    "مجموعة من حوالي {n} شباب يتجمعون كل ليلة قرب {street} ويرمون الحجارة على الحافلات. انكسرت نافذة اليوم."}}};
inline constexpr std::array<Template, 1> kArNoise = {{{"موسيقى عالية كل ليلة",
    "الجيران في {street} يشغلون موسيقى عالية جداً حتى الساعة {clock}. لا نستطيع النوم."}}};
inline constexpr std::array<Template, 1> kArHate = {{{"إساءة عنصرية في الحافلة",
    "تعرضت لإساءة لفظية عنصرية في الحافلة على {street}. أشعر بالخوف عند الخروج مع أطفالي."}}};
inline constexpr std::array<Template, 1> kArVehicle = {{{"سيارة تقف على الرصيف",
    "سيارة تقف على الرصيف كل يوم في {street} وتغلق الطريق أمام عربات الأطفال والكراسي المتحركة."}}};
inline constexpr std::array<Template, 1> kArSuspicious = {{{"رجل يحاول فتح أبواب السيارات",
    "رأيت رجلاً يحاول فتح أبواب السيارات في {street} حوالي الساعة {clock}. كان يرتدي ملابس سوداء."}}};
inline constexpr std::array<Template, 1> kArCompliment = {{{"شكراً للشرطة",
    "شكراً جزيلاً لضباط الشرطة على مساعدتهم السريعة عندما سُرقت دراجة ابني."}}};
inline constexpr std::array<TemplateSet, 6> kArabic = {{{"anti_social_behaviour", kArAsb},
                                                        {"noise", kArNoise},
                                                        {"hate_incident", kArHate},
                                                        {"vehicle_nuisance", kArVehicle},
                                                        {"suspicious_activity", kArSuspicious},
                                                        {"police_feedback:compliment", kArCompliment}}};
// Romanian
inline constexpr std::array<Template, 1> kRoAsb = {{{"Tineri care aruncă cu pietre în autobuze",
    "Un grup de aproximativ {n} tineri aruncă din nou cu pietre în autobuzele de pe {street}. Un geam s-a "
    "crăpat în seara asta."}}};
inline constexpr std::array<Template, 1> kRoNoise = {{{"Muzică tare în fiecare noapte",
    "Vecinii de pe {street} ascultă muzică foarte tare până la {clock}. Copiii nu pot dormi."}}};
inline constexpr std::array<Template, 1> kRoHate = {{{"Insulte rasiste pe stradă",
    "Un bărbat ne-a strigat insulte pentru că vorbeam românește pe {street}. Mi-e frică să ies seara."}}};
inline constexpr std::array<Template, 1> kRoVehicle = {{{"Mașină abandonată fără numere",
    "O mașină fără numere de înmatriculare stă abandonată pe {street} de două săptămâni."}}};
inline constexpr std::array<Template, 1> kRoCompliment = {{{"Mulțumesc poliției",
    "Mulțumesc ofițerilor care m-au ajutat ieri pe {street}. Au fost foarte amabili și răbdători."}}};
inline constexpr std::array<TemplateSet, 5> kRomanian = {{{"anti_social_behaviour", kRoAsb},
                                                          {"noise", kRoNoise},
                                                          {"hate_incident", kRoHate},
                                                          {"vehicle_nuisance", kRoVehicle},
                                                          {"police_feedback:compliment", kRoCompliment}}};
// Chinese (simplified)
inline constexpr std::array<Template, 1> kZhAsb = {{{"青少年向公交车扔石头",
    "大约{n}个青少年又在{street}向公交车扔石头，今晚有一扇车窗被砸裂了。"}}};
inline constexpr std::array<Template, 1> kZhNoise = {{{"每晚音乐声很大",
    "{street}的邻居每晚放很大声的音乐，一直到{clock}，孩子们无法入睡。"}}};
inline constexpr std::array<Template, 1> kZhHate = {{{"在商店外遭到种族辱骂",
    "有人在{street}的{shop}外面对我们大喊种族歧视的话，我们很害怕。"}}};
inline constexpr std::array<Template, 1> kZhSuspicious = {{{"有人试图拉车门",
    "大约{clock}，一个穿黑衣服的男子在{street}挨个拉车门。"}}};
inline constexpr std::array<Template, 1> kZhCompliment = {{{"感谢警察",
    "非常感谢昨天在{street}帮助我父亲的警官，他们非常耐心。"}}};
inline constexpr std::array<Template, 1> kZhComplaint = {{{"没有人回电话",
    "我报告了三次，但是没有人给我回电话。"}}};
inline constexpr std::array<TemplateSet, 6> kChinese = {{{"anti_social_behaviour", kZhAsb},
                                                         {"noise", kZhNoise},
                                                         {"hate_incident", kZhHate},
                                                         {"suspicious_activity", kZhSuspicious},
                                                         {"police_feedback:compliment", kZhCompliment},
                                                         {"police_feedback:complaint", kZhComplaint}}};

struct Language {
  Sv code;
  std::span<const TemplateSet> sets;
};
inline constexpr std::array<Language, 6> kOtherLanguages = {{{"cy", kWelsh},
                                                             {"pl", kPolish},
                                                             {"ur", kUrdu},
                                                             {"ar", kArabic},
                                                             {"ro", kRomanian},
                                                             {"zh", kChinese}}};

inline constexpr std::array<Sv, 8> kClock = {"9pm", "10pm", "half 11", "midnight", "1am", "3am",
                                             "quarter past 8", "about 7"};
inline constexpr std::array<Sv, 5> kDaypart = {"last week", "Monday", "the weekend", "half term", "about a month"};
inline constexpr std::array<Sv, 6> kColour = {"silver", "black", "white", "grey", "red", "blue"};
inline constexpr std::array<Sv, 8> kCar = {"Ford Focus", "Vauxhall Corsa", "BMW 3 Series", "Audi A3",
                                           "VW Golf",    "Transit van",    "Nissan Qashqai", "Mercedes"};
inline constexpr std::array<Sv, 6> kPcso = {"PCSO Hughes", "PC Ahmed", "PC Nowak", "PCSO Thompson", "Sgt Patel",
                                            "PC Murray"};
inline constexpr std::array<Sv, 10> kEmoji = {" 😡", " 😢", " 🚗💨", " 🙏", " 👍", " 🔊🔊", " 😤😤", " 👨‍👩‍👧", " ⚠️", " 🇬🇧"};
inline constexpr std::array<Sv, 7> kExtraLines = {
    "Please don't send anyone to my door, I don't want them to know it was me.",
    "I've got video on my phone if you need it.",
    "It happens mostly Fridays, Saturdays, and sometimes Sundays.",
    "Neighbours at 12, 14, and 16 have all seen it too.",
    "Not an emergency, just want it on record.",
    "My neighbour said: \"the police won't do anything\" - prove her wrong please!",
    "Rang 101 but gave up after 40 mins"};
// Dangerous when naively written to a spreadsheet (formula injection).
inline constexpr std::array<Sv, 6> kFormulas = {"=HYPERLINK(\"http://example.org/evidence\",\"Click for photos\")",
                                                "+cmd|' /C calc'!A0",
                                                "@SUM(1+1)*cmd|' /C calc'!A0",
                                                "-2+3+cmd|' /C calc'!A0",
                                                "=1+1",
                                                "=CONCATENATE(\"a\",\"b\")"};
// Dangerous when naively written into XML.
inline constexpr std::array<Sv, 7> kXmlSpecials = {"Kids & adults both involved <again>",
                                                   "He shouted \"you're next\" & ran off",
                                                   "Text sprayed on the wall: ]]> <![CDATA[ x ]]>",
                                                   "<script>alert('x')</script>",
                                                   "Fish & chip shop, 5 < 10 mins walk > 2 mins",
                                                   "a]]>b &amp; &lt;b&gt; &#x26;",
                                                   "Tom & Jerry's café <br/>"};
inline constexpr std::array<Sv, 5> kUpdateLines = {"They came back again at {clock}.",
                                                   "Forgot to say there were {n} of them.",
                                                   "Adding: it has happened again tonight.",
                                                   "Correction - it was {colour} not black.",
                                                   "Neighbour has CCTV of it now."};
inline constexpr std::array<Sv, 5> kRant = {"It's been like this for months and nobody seems to care. ",
                                            "We pay our council tax like everyone else. ",
                                            "My kids can't play out, my mam won't leave the house after dark. ",
                                            "I've rung the council, the housing association, and my councillor. ",
                                            "Something has to be done before someone gets hurt. "};

// --- media --------------------------------------------------------------------------
struct Media {
  Sv type;
  Sv head;  // leading bytes that identify the format
  Sv tail;
  Sv ext;
};
inline constexpr std::array<Media, 5> kMedia = {{
    {"image/jpeg", "\xff\xd8\xff\xe0\x00\x10" "JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"sv, "\xff\xd9"sv, "jpg"},
    {"image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"sv, "\x00\x00\x00\x00IEND\xae" "B`\x82"sv, "png"},
    {"video/mp4", "\x00\x00\x00\x18" "ftypmp42\x00\x00\x00\x00mp42isom"sv, ""sv, "mp4"},
    {"image/heic", "\x00\x00\x00\x18" "ftypheic\x00\x00\x00\x00mif1heic"sv, ""sv, "heic"},
    {"video/quicktime", "\x00\x00\x00\x14" "ftypqt  \x00\x00\x00\x00qt  "sv, ""sv, "mov"},
}};
inline constexpr std::array<Weighted<int>, 5> kMediaWeights = {{{0, 70}, {1, 8}, {2, 10}, {3, 7}, {4, 5}}};

inline constexpr std::array<Weighted<Sv>, 3> kPlatforms = {{{"ios", 45}, {"android", 45}, {"web", 10}}};
inline constexpr std::array<Weighted<Sv>, 5> kAppVersions = {
    {{"1.2.0", 5}, {"1.3.1", 15}, {"1.4.0", 25}, {"1.4.2", 50}, {"1.5.0-beta.2", 5}}};

}  // namespace reportbridge::gen::data
